# The firmware every board runs: entry scripts, the device loop and its stages, DSP,
# features, the int8 decoder, safety, storage, the wire protocol and the AFE driver.
# A board manifest includes this file and adds its HAL. Same calls as micropython-lib's
# manifest.py files (MicroPython's tools/manifestfile.py), read by garment.firmware_boards.
metadata(description="garment firmware core (all boards)")

module("boot.py", base_path="..")
module("main.py", base_path="..")

package(
    "garmentfw",
    files=(
        "__init__.py",
        "activation.py",
        "afe.py",
        "app.py",
        "artefact_stage.py",
        "auth.py",
        "budget.py",
        "capture.py",
        "calibration.py",
        "control.py",
        "cpg.py",
        "cpg_spec.py",
        "decode_stage.py",
        "device.py",
        "dsp.py",
        "emg_guard.py",
        "evoked.py",
        "feature_spec.py",
        "features.py",
        "filter_coeffs.py",
        "framing.py",
        "imu_crank.py",
        "int8net.py",
        "limits.py",
        "limits_record.py",
        "manual_trains.py",
        "model_format.py",
        "model_service.py",
        "model_slot.py",
        "mu_spec.py",
        "mu_stage.py",
        "montage.py",
        "pulse_report.py",
        "reflex.py",
        "reflex_spec.py",
        "ring.py",
        "safety_checks.py",
        "spec_params.py",
        "stim_engine.py",
        "stim_policy.py",
        "stim_service.py",
        "store.py",
        "supervisor.py",
        "telemetry.py",
        "telemetry16.py",
        "thigh_phase.py",
        "txqueue.py",
        "wire.py",
    ),
    base_path="../lib",
)
package("garmentfw/drivers", files=("__init__.py", "ads1299.py"), base_path="../lib")
package("garmentfw/boards", files=("__init__.py",), base_path="../lib")
