"""The app's screens, one module each (Connect, Live, Calibrate, Train, Upload, HIL, Log)."""
