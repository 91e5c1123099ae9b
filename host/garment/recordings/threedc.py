"""The 3DC gestures dataset: forearm EMG of 11 motions, 10 bipolar channels at 1000 Hz.

Côté-Allard, Gagnon-Turcotte, Laviolette, Gosselin, "A Low-Cost, Wireless, 3-D-Printed
Custom Armband for sEMG Hand Gesture Recognition" (the 3DC Armband and dataset),
IEEE TNSRE 27(4):760-771, 2019. Please credit that paper when you use the data.

Layout: ``ParticipantP/{train,test}/EMG/3dc_EMG_gesture_R_C.txt``, R the repetition
(0-3), C the class (0-10); one row per sample, ten comma-separated integer ADC values,
no header. The first four cycles are ``train/``, the last four (after a 5-minute
break) ``test/``.

The armband's ADC scale in volts is not part of the files. The loader maps one armband
code to ``2**8`` ADS1299 codes at gain 24 (:data:`UV_PER_CODE`, a nominal 5.72 uV):
the garment's features then see the armband's ~11-bit signal in its own 24-bit code
range, where the default zero-crossing / slope thresholds (224 codes) are 0.9 armband
code, just above its quantisation. The features' amplitudes are relative anyway.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RecordingFormatError
from .model import Annotation, Recording

FS = 1000.0
N_CHANNELS = 10
CLASSES = ("no_motion", "radial_deviation", "wrist_flexion", "ulnar_deviation", "wrist_extension", "supination",
           "pronation", "power_grip", "open_hand", "chuck_grip", "pinch_grip")
#: Nominal microvolts per armband code: 2^8 ADS1299 codes at gain 24 (see the module doc).
UV_PER_CODE = 2**8 * 2 * 4.5 / 24 / 2**24 * 1e6
_NAME_RE = re.compile(r"^3dc_EMG_gesture_(\d+)_(\d+)\.txt$")
_PART_RE = re.compile(r"^Participant(\d+)$")


@dataclass(frozen=True)
class ThreeDCFile:
    """Where one elicitation sits in the dataset."""

    path: Path
    participant: int
    split: str  # "train" | "test"
    repetition: int
    cls: int


def find_3dc_files(root: str | Path) -> list[ThreeDCFile]:
    """Every elicitation file under ``root`` (the folder holding ``ParticipantP/``), sorted."""
    out = []
    for p in sorted(Path(root).rglob("3dc_EMG_gesture_*.txt")):
        m = _NAME_RE.match(p.name)
        parts = p.parts
        if not m or len(parts) < 4 or parts[-2] != "EMG" or parts[-3] not in ("train", "test"):
            continue
        pm = _PART_RE.match(parts[-4])
        if not pm:
            continue
        rep, cls = int(m.group(1)), int(m.group(2))
        if not 0 <= cls < len(CLASSES):
            raise RecordingFormatError(p, f"class {cls} outside 0..{len(CLASSES) - 1}")
        out.append(ThreeDCFile(p, int(pm.group(1)), parts[-3], rep, cls))
    return out


def load_3dc(f: ThreeDCFile | str | Path) -> Recording:
    """One elicitation as a Recording: ``ch1``..``ch10`` in (nominal) uV, labelled by its class.

    Raises RecordingFormatError naming the file and line for a row that is not ten
    integers, or a file with no rows.
    """
    if not isinstance(f, ThreeDCFile):
        p = Path(f)
        found = [x for x in find_3dc_files(p.parents[3]) if x.path == p] if len(p.parents) > 3 else []
        if not found:
            raise RecordingFormatError(p, "not a 3DC file (ParticipantP/{train,test}/EMG/3dc_EMG_gesture_R_C.txt)")
        f = found[0]
    text = f.path.read_text(encoding="ascii", errors="replace")
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        parts = s.split(",")
        if len(parts) != N_CHANNELS:
            raise RecordingFormatError(f.path, f"{len(parts)} values, expected {N_CHANNELS}", i)
        try:
            rows.append([int(v) for v in parts])
        except ValueError:
            raise RecordingFormatError(f.path, f"not integers: {s[:60]!r}", i) from None
    if not rows:
        raise RecordingFormatError(f.path, "no samples")
    codes = np.array(rows, dtype=np.int64)
    n = len(codes)
    label = CLASSES[f.cls]
    return Recording(
        samples=codes * UV_PER_CODE,
        fs=FS,
        channel_names=[f"ch{i + 1}" for i in range(N_CHANNELS)],
        units=["uV"] * N_CHANNELS,
        annotations=[Annotation(0.0, n / FS, label)],
        meta={"dataset": "3dc-gestures", "participant": str(f.participant), "split": f.split,
              "repetition": str(f.repetition), "class": str(f.cls), "source_file": f.path.name,
              "bids_subject": f"P{f.participant}", "exercise": label},
    )
