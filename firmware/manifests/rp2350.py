# Raspberry Pi Pico 2 W (RP2350 + CYW43439): ADS1299 with PIO-counted DRDY, PIO-timed
# stimulation pulses, USB serial and BLE (NUS) at once. Same modules on the Arm and the
# RISC-V cores (rp2350-riscv.py includes this file).
metadata(description="garment firmware for the RP2350 board (Pico 2 W)")
include("core.py")
package(
    "garmentfw/boards",
    files=("rp2350.py", "rp2_board.py", "rp2_capture.py", "rp2350_stim.py", "rp2_pio.py", "ble_link.py", "dual_link.py", "stdio_link.py"),
    base_path="../lib",
)
