# Raspberry Pi RP2040 board: ADS1299 on SPI with DRDY capture, USB serial.
metadata(description="garment firmware for the RP2040 board")
include("core.py")
package("garmentfw/boards", files=("rp2040.py", "rp2_board.py", "rp2_capture.py", "stdio_link.py"), base_path="../lib")
