# Runs first at power-up and after every reset. Ctrl-C off FIRST: until it is, a host on
# the USB link could break into the REPL during boot, drive the pins and read the
# garment's secret (docs/SAFETY.md: the board's answer is secure boot + flash encryption
# and a disabled REPL in production images). Each board module drives its stimulator
# enable low in Board(), inside main.py's guarded loop.
import micropython

if hasattr(micropython, "kbd_intr"):  # every MCU port (the unix port has none)
    micropython.kbd_intr(-1)

import gc  # noqa: E402

gc.collect()
