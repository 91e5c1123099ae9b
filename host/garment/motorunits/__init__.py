"""Live motor units: calibrate on a baseline, then apply and adapt separation filters on a stream.

:func:`.calibrate.calibrate` decomposes a baseline with :mod:`garment.decomposition` and turns
each unit into a causal filter; :class:`.tracker.MotorUnitTracker` applies those filters to
batches of at most 100 ms, adapts whitening and filters as the signal drifts and reports
units lost and found; :mod:`.drive` turns discharges into rates and a muscle's neural drive.
"""
from .calibrate import Calibration, CalibrationError, OnlineUnit, calibrate
from .drive import NeuralDrive, instantaneous_rates
from .tracker import BatchResult, MotorUnitTracker, UnitEvent

__all__ = ["BatchResult", "Calibration", "CalibrationError", "MotorUnitTracker", "NeuralDrive", "OnlineUnit",
           "UnitEvent", "calibrate", "instantaneous_rates"]
