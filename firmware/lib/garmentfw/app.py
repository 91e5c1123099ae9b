# Firmware entry: pick the board HAL, start the device loop. Any exception that
# escapes leaves outputs off (the board's safe_state) and restarts the loop.
import sys

TYPE_CHECKING = False  # mypy takes the imports below; MicroPython has no `typing`
if TYPE_CHECKING:
    from garmentfw.device import Device
    from garmentfw.hal import Board

# sys.platform -> the HAL module (garmentfw/boards/<name>.py). Each board's image holds
# only its own HAL (firmware/manifests/<board>.py), so none is imported statically here.
_HALS = {"linux": "sim", "darwin": "sim", "esp32": "esp32s3", "rp2": "rp2040", "qemu": "qemu"}


def hal_name():
    """The HAL module this MicroPython runs: by platform, RP2350 told from RP2040 by its chip."""
    plat = sys.platform
    name = _HALS.get(plat)
    if name is None:
        raise RuntimeError("no board support for platform %r" % plat)
    if plat == "rp2" and "RP2350" in sys.implementation._machine:
        name = "rp2350"
    if name == "sim":
        import os

        if os.getenv("GARMENT_SIM_HD") == "1":  # the HD garment's variant (garment sim --hd)
            name = "sim_hd"
    return name


def load_board() -> "Board":
    name = hal_name()
    mod = __import__("garmentfw.boards." + name, None, None, ("Board",))
    return mod.Board()


def make_device(board: "Board") -> "Device":
    """The device with every service and stage this firmware has, wired one way:
    raw samples -> artefact stage -> EMG guard -> filters -> decode stage -> control
    stage -> pulse engine, and filters -> motor-unit stage (its discharges to the host);
    the model slot tells the decode and control stages of every
    model it activates."""
    from garmentfw.auth import AuthService
    from garmentfw.decode_stage import DecodeStage
    from garmentfw.device import Device
    from garmentfw.model_service import ModelService
    from garmentfw.model_slot import ModelSlot
    from garmentfw.mu_stage import MotorUnitStage

    dev = Device(board)
    dev.add_service(AuthService(dev))
    slot = ModelSlot(dev)
    decode = DecodeStage(dev)
    slot.subscribe(decode.on_model)
    slot.load()
    dev.add_service(ModelService(dev, slot))
    stim = None
    if board.stim is not None:
        from garmentfw.stim_service import StimService

        stim = StimService(dev, board.stim)
        dev.add_service(stim)
        decode.on_output = stim.control.on_decoder
        slot.subscribe(stim.on_model)
        slot.guard(stim.model_change_refused)
    imu = getattr(board, "imu", None)
    if stim is not None and imu is not None:  # a thigh IMU: crank phase without a crank sensor
        from garmentfw.imu_crank import ImuCrank

        dev.add_service(ImuCrank(imu, stim.control))
    units = MotorUnitStage(dev)
    dev.add_service(units)
    dev.set_stages(artefacts=stim.artefacts if stim else None, guard=stim.guard if stim else None, window=decode,
                   units=units)
    if stim is not None:
        dev.outputs_off.append(stim.safe_off)
    return dev


def main():
    board = None
    while True:
        dev = None
        try:
            if board is None:  # inside the guard: a board that fails to come up is retried
                board = load_board()
            dev = make_device(board)
            dev.run()
        except KeyboardInterrupt:
            _off(dev, board, "interrupted")
            raise
        except Exception as e:
            _off(dev, board, "exception")
            sys.print_exception(e)
            if board is not None:
                board.reinit()
            else:
                import time

                time.sleep_ms(100)  # the board did not come up: try again, never to the REPL


def _off(dev, board, why):
    # Outputs off first, whatever state the device was in.
    try:
        if dev is not None:
            dev.all_outputs_off(why)
    finally:
        if board is not None:
            board.safe_state()
