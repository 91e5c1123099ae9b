# The RP2350 board running on its Hazard3 RISC-V cores: the same modules, rv32imc code.
metadata(description="garment firmware for the RP2350 board, RISC-V cores")
include("rp2350.py")
