# MicroPython's qemu port: the firmware on an emulated 32-bit MCU core (frozen in by
# garment.qemu.build). Its parts are simulated like the sim board's (the chip model,
# the current source), with the UART as the link; no rig port, no sockets.
metadata(description="garment firmware on an emulated MCU core (MicroPython qemu port)")
include("core.py")
package("garmentfw/boards", files=("qemu.py", "stdio_link.py"), base_path="../lib")
package(
    "garmentfw/sim",
    files=("__init__.py", "ads1299_model.py", "afe_irq.py", "current_source.py", "electrode_skin.py", "rig_stim.py",
           "stimulator.py"),
    base_path="../lib",
)
