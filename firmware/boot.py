# Runs first at power-up and after every reset: outputs off before anything else.
# Each board module drives its stimulator enable low in Board(); boot.py only keeps
# the REPL off the USB link's way and leaves the rest to main.py.
import gc

gc.collect()
