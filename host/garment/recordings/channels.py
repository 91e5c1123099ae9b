"""Find the channels a decoder wants in a recording (BDF+/EDF+, CSV): by name, unit and position.

Files from other tools label channels their own way (``EMG RF``, ``rf-ref``, ``Ch 3``)
and may carry extra channels (an angle, an accelerometer, a trigger). A wanted channel
is found by

1. its exact name;
2. its name normalised (case, accents, punctuation, an ``EMG`` prefix and a
   reference suffix such as ``-REF`` / ``-Ref`` / ``-A1`` dropped);
3. its unit and position: when the recording has exactly as many voltage channels
   (uV, mV, V) as voltage channels are wanted, in the same order, the k-th of them is
   the k-th wanted one. A warning names every channel found this way.

Anything else is an error naming what is missing and what the file holds.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from typing import Sequence

log = logging.getLogger(__name__)

_VOLT = {"uv", "µv", "μv", "mv", "v", "microvolts", "millivolts", "volts"}
_REF_SUFFIX = re.compile(r"(?:[-_ ](?:ref|reference|a1|a2|m1|m2|gnd))+$")


def normalise(name: str) -> str:
    """Case-, accent- and punctuation-free form of a channel name, without ``EMG`` / reference tags."""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower().strip()
    s = _REF_SUFFIX.sub("", s)
    s = re.sub(r"^emg[-_ .:]*", "", s)
    s = re.sub(r"[-_ .:]*emg$", "", s)
    return re.sub(r"[^0-9a-z]+", "", s)


def is_voltage(unit: str) -> bool:
    """Whether a physical unit is a voltage (the EMG channels)."""
    return unit.strip().lower() in _VOLT


def find_channels(names: Sequence[str], units: Sequence[str], wanted: Sequence[str],
                  source: str = "recording") -> tuple[list[int], list[str]]:
    """Indices of ``wanted`` among ``names`` (with ``units``); returns (indices, warnings).

    Raises ValueError naming the channels that cannot be identified.
    """
    names = list(names)
    units = list(units)
    idx: list[int | None] = []
    taken: set[int] = set()
    norm = [normalise(n) for n in names]
    for w in wanted:
        if w in names and names.index(w) not in taken:
            i = names.index(w)
        else:
            hits = [i for i, n in enumerate(norm) if n == normalise(w) and i not in taken]
            i = hits[0] if len(hits) == 1 else None
        idx.append(i)
        if i is not None:
            taken.add(i)
    warns: list[str] = []
    if any(i is None for i in idx):
        volt = [i for i, u in enumerate(units) if is_voltage(u)]
        found = [i for i in idx if i is not None]
        if len(volt) == len(wanted) and all(i in volt for i in found) \
                and all(volt.index(i) == k for k, i in enumerate(idx) if i is not None):
            for k, i in enumerate(idx):
                if i is None:
                    idx[k] = volt[k]
                    warns.append(f"{source}: channel {volt[k] + 1} {names[volt[k]]!r} ({units[volt[k]]}) taken as "
                                 f"{wanted[k]!r} by its unit and position")
        else:
            missing = [w for w, i in zip(wanted, idx) if i is None]
            raise ValueError(f"{source}: no channel {', '.join(map(repr, missing))} (holds "
                           f"{', '.join(f'{n} [{u}]' for n, u in zip(names, units))})")
    for w in warns:
        log.warning("%s", w)
    return [int(i) for i in idx if i is not None], warns
