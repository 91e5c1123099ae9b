"""The firmware on emulated 32-bit MCU cores: MicroPython's ``qemu`` port.

- :mod:`garment.qemu.build` builds the port with the firmware frozen in through the
  ``qemu`` board manifest (cached, keyed on the source and everything frozen);
- :mod:`garment.qemu.machine` boots a build under ``qemu-system-*`` and talks to its
  raw REPL over the emulated UART (a pty), with a RAM filesystem for files.
"""
