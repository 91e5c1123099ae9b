"""Motor-unit decomposition of monopolar HD-EMG (convolutive blind source separation).

Entry point: :func:`decompose` (one recording); :mod:`.batch` runs many on Dask;
:mod:`.properties` estimates each unit's depth, innervation zone and conduction velocity by
fitting the phantom's forward model; :mod:`.agreement` scores units against ground truth.
"""
from .agreement import match_to_truth, rate_of_agreement
from .decompose import Decomposition, DecompositionOptions, MotorUnit, decompose
from .preprocess import DecompositionInputError

__all__ = ["Decomposition", "DecompositionInputError", "DecompositionOptions", "MotorUnit", "decompose",
           "match_to_truth", "rate_of_agreement"]
