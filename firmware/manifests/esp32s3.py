# ESP32-S3 reference board: ADS1299 on SPI with DRDY capture, constant-current
# stimulator (PWM amplitude, H-bridge phases), USB serial and BLE (NUS) at once.
metadata(description="garment firmware for the ESP32-S3 reference board")
include("core.py")
package(
    "garmentfw/boards",
    files=("esp32s3.py", "esp32s3_capture.py", "esp32s3_stim.py", "ble_link.py", "dual_link.py", "stdio_link.py"),
    base_path="../lib",
)
