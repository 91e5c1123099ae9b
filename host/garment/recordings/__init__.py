"""Recordings in and out.

* :class:`Recording` / :class:`Annotation`: the one in-memory type (``model``).
* :func:`load_uci`: the UCI "EMG dataset in Lower Limb" text files, all quirks
  handled (``uci``); :func:`import_uci` converts a folder of them to BIDS-EMG
  BDF+ (``importer``).
* :func:`write_bdf` / :func:`read_edf`: BDF+ 24-bit with annotations, truth
  arrays and BIDS sidecars, written atomically (``edf``, ``bids``).
* :func:`write_csv` / :func:`read_csv` (``csvio``).
* :class:`RecordingWriter` / :func:`recover_spool`: crash-safe live recording
  (``writer``, ``spool``).
"""
from __future__ import annotations

from .bids import bids_basename, sidecar_paths, write_sidecars
from .csvio import read_csv, write_csv
from .edf import read_edf, write_bdf
from .errors import RecordingFormatError
from .importer import find_uci_files, import_uci
from .model import GAP_PREFIX, Annotation, Recording, is_gap_annotation
from .spool import find_spools, spool_path_for
from .uci import load_uci
from .writer import RecordingWriter, gap_text, recover_spool

__all__ = [
    "GAP_PREFIX",
    "Annotation",
    "Recording",
    "RecordingFormatError",
    "RecordingWriter",
    "bids_basename",
    "find_spools",
    "find_uci_files",
    "gap_text",
    "import_uci",
    "is_gap_annotation",
    "load_uci",
    "read_csv",
    "read_edf",
    "recover_spool",
    "sidecar_paths",
    "spool_path_for",
    "write_bdf",
    "write_csv",
    "write_sidecars",
]
