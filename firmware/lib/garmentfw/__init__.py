# Garment firmware package. VERSION is reported in HELLO; bump on every protocol change.
VERSION = "0.1.0"
