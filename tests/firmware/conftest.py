# The scripts in mp/ are MicroPython test scripts, run by test_unix_port.py, not by CPython.
collect_ignore = ["mp"]
