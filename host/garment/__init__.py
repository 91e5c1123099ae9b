"""Host companion for the EMG + stimulation garment."""

__version__ = "0.1.0"
