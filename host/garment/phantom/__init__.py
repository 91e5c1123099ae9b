"""Biophysical surface-EMG phantom of the garment, with ground truth (numpy only).

Motor-neuron pools (Fuglevand-style recruitment and rate coding) fire motor units whose action
potentials (Rosenfalck IAP through an anisotropic volume conductor to bipolar electrodes) sum
at each electrode, with crosstalk, amplifier noise, mains, baseline wander, motion and
stimulation artefacts, evoked M-waves and fatigue (slowing conduction velocity).

Main entry points: :func:`generate` (batch), :class:`PhantomStream` (live blocks),
:func:`afe_codes` / :func:`codes_to_uV` (ADS1299-like quantisation),
:func:`write_validation_report` (plots).
"""
from .afe import afe_codes, codes_to_uV, lsb_uV
from .artefacts import StimPulse, motor_threshold_ma, pulse_train, recruited_fraction
from .batch import generate
from .metrics import median_frequency, rms_envelope, welch_psd
from .montage import MONTAGE, MuscleSite, montage_sites
from .motor_units import MotorUnitPool
from .report import write_validation_report
from .result import PhantomResult
from .scenarios import SCENARIOS
from .stream import PhantomStream

__all__ = [
    "MONTAGE",
    "SCENARIOS",
    "MotorUnitPool",
    "MuscleSite",
    "PhantomResult",
    "PhantomStream",
    "StimPulse",
    "afe_codes",
    "codes_to_uV",
    "generate",
    "lsb_uV",
    "median_frequency",
    "montage_sites",
    "motor_threshold_ma",
    "pulse_train",
    "recruited_fraction",
    "rms_envelope",
    "welch_psd",
    "write_validation_report",
]
