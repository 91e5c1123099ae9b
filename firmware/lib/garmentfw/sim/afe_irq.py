# The simulated AFE captured as on an MCU: the chip model (one conversion held, as the
# real ADS1299) raises its DRDY interrupt at each conversion, and the handler moves the
# conversion into the ring through the boards' capture code (garmentfw/capture.py).
from garmentfw.capture import DrdyCapture


class SimDrdyIrq:
    """Wires ``chip.drdy``'s interrupt to a DrdyCapture of ``driver`` (``afe``)."""

    def __init__(self, chip, driver, gain: int = 24):
        self.chip = chip
        # poll() lets the model's clock catch up: the interrupts due so far fire in order
        self.afe = DrdyCapture(driver, gain, sync=chip.conversions)
        chip.drdy.irq(self._edge, trigger=1, hard=True)

    def _edge(self, _pin) -> None:
        # DRDY fell: conversion (edges since START) - 1 is held. Allocation-free.
        self.afe.on_drdy(self.chip.conversions() - 1)
