# The simulated garment on the MicroPython unix port: the real ADS1299 driver on a
# register-level model of the chip, a simulated current source, the rig port that
# injects signals and faults, and the TCP link the host opens like a serial port.
# Never on a real board: only this manifest lists garmentfw/sim.
metadata(description="the simulated garment (MicroPython unix port)")
include("core.py")
package("garmentfw/boards", files=("sim.py", "sim_hd.py"), base_path="../lib")
package(
    "garmentfw/sim",
    files=("__init__.py", "ads1299_chain.py", "ads1299_model.py", "afe_irq.py", "clock.py", "current_source.py", "electrode_skin.py",
           "imu_model.py", "pass_hold.py", "rig.py", "rig_clock.py", "rig_imu.py", "rig_stim.py", "stimulator.py", "tcp_link.py"),
    base_path="../lib",
)
