"""The person wearing the simulated garment, doing what the companion app asks.

Left alone, the simulated garment's phantom pedals (the ``cycling`` scenario). A session
asks the person for what a real one would do: :meth:`SimPerson.relax` for the electrode
check, the rest baseline and the stimulation ramp; :meth:`SimPerson.max_effort` of one
muscle for its MVC; :meth:`SimPerson.perform` of the prompted movement during guided
training; :meth:`SimPerson.free` hands the muscles back to the scenario. So calibration and
training on the simulated garment give what a real session gives (a quiet rest, an MVC
many times the rest, classes a decoder can tell apart), and the ground truth of what was
asked is known.
"""
from __future__ import annotations

import zlib
from typing import Any

from garment.phantom.scenarios import GESTURES

#: label words -> the phantom's gesture (its drive per muscle type)
SYNONYMS = {
    "rest": "rest", "relax": "rest", "relaxed": "rest", "idle": "rest", "none": "rest",
    "extend": "knee_extension", "extension": "knee_extension", "knee_extension": "knee_extension",
    "kick": "knee_extension", "quads": "knee_extension",
    "flex": "knee_flexion", "flexion": "knee_flexion", "knee_flexion": "knee_flexion", "curl": "knee_flexion",
    "hamstrings": "knee_flexion",
    "co": "co_contraction", "cocontract": "co_contraction", "co_contraction": "co_contraction",
    "cocontraction": "co_contraction", "stiffen": "co_contraction", "squeeze": "co_contraction",
}
MUSCLE_TYPES = ("RF", "VL", "VM", "BF", "ST", "SM")


def movement(label: str) -> dict[str, float]:
    """The drive per muscle type (``RF``...) of a prompted movement: the phantom's gesture for
    a known word; for any other label a pattern of its own (two muscle types, from the
    label's CRC), so that every label of a session is a distinct, repeatable movement."""
    key = label.strip().lower().replace("-", "_").replace(" ", "_")
    gesture = SYNONYMS.get(key, key)
    if gesture in GESTURES:
        return dict(GESTURES[gesture])
    h = zlib.crc32(key.encode())
    first = MUSCLE_TYPES[h % 4]  # RF VL VM BF: the garment's montage has these
    second = MUSCLE_TYPES[(h // 4) % 4]
    out = {first: 0.45}
    if second != first:
        out[second] = 0.25
    return out


class SimPerson:
    """Steers the muscles of the phantom behind a simulated garment's feeder."""

    def __init__(self, feeder: Any) -> None:
        self.feeder = feeder
        #: what the person is doing now (``free``, ``rest``, ``mvc L_RF``, the prompted label)
        self.doing = "free"

    @property
    def muscles(self) -> list[str]:
        return list(self.feeder.muscles)

    def _hold(self, levels: list[float | None]) -> None:
        for ch, level in enumerate(levels):
            self.feeder.set_drive(ch, level)

    def relax(self) -> None:
        """Every muscle at rest."""
        self._hold([0.0] * len(self.muscles))
        self.doing = "rest"

    def max_effort(self, channel: int, level: float = 1.0) -> None:
        """The muscle under ``channel`` as hard as the person can; the others relaxed."""
        n = len(self.muscles)
        if not 0 <= channel < n:
            raise ValueError(f"channel must be 0..{n - 1}")
        self._hold([level if ch == channel else 0.0 for ch in range(n)])
        self.doing = f"mvc {channel}"

    def perform(self, label: str) -> None:
        """The prompted movement (see :func:`movement`) with both legs."""
        pattern = movement(label)
        self._hold([float(pattern.get(m, 0.0)) for m in self.muscles])
        self.doing = label

    def free(self) -> None:
        """Back to the scenario (pedalling)."""
        self._hold([None] * len(self.muscles))
        self.doing = "free"

    def follow(self, instruction: str | None, channel: int | None = None) -> None:
        """``rest``, ``mvc`` (with ``channel``), a movement label, or None (free)."""
        if instruction is None:
            self.free()
        elif instruction == "rest":
            self.relax()
        elif instruction == "mvc":
            self.max_effort(int(channel or 0))
        else:
            self.perform(instruction)
