"""Monopolar high-density electrode grids: geometry and channel labels.

Rows run along the muscle fibres (x), columns across them (y); electrodes are numbered row by
row (``r * cols + c`` in the full rectangle, skipping ``absent`` sites such as the empty corner
of a 13 x 5 grid of 64 electrodes) and labelled ``R<r>C<c>`` (1-based, two digits), so the
layout of a recording can be read back from its channel labels alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_LABEL = re.compile(r"^R(\d{2})C(\d{2})$")


@dataclass(frozen=True)
class GridLayout:
    """A rectangular monopolar grid.

    Attributes:
        rows: electrodes along the fibres.
        cols: electrodes across the fibres.
        ied_mm: inter-electrode distance (both directions).
        absent: sites of the rectangle (``r * cols + c``, 0-based) without an electrode.
    """

    rows: int
    cols: int
    ied_mm: float = 8.0
    absent: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1 or self.rows > 99 or self.cols > 99:
            raise ValueError(f"grid must be 1..99 x 1..99, got {self.rows} x {self.cols}")
        if not self.ied_mm > 0:
            raise ValueError(f"ied_mm must be > 0, got {self.ied_mm}")

    @property
    def n_channels(self) -> int:
        """Number of electrodes."""
        return self.rows * self.cols - len(self.absent)

    @property
    def sites(self) -> np.ndarray:
        """Rectangle site (``r * cols + c``) of each channel."""
        return np.setdiff1d(np.arange(self.rows * self.cols), np.asarray(self.absent, dtype=np.int64))

    @property
    def name(self) -> str:
        """``"13x5"`` style name."""
        return f"{self.rows}x{self.cols}"

    def positions_mm(self) -> np.ndarray:
        """(E, 2) electrode centres ``(x along fibres, y across)``, centred on the grid's middle."""
        r, c = np.divmod(self.sites, self.cols)
        x = (r - (self.rows - 1) / 2) * self.ied_mm
        y = (c - (self.cols - 1) / 2) * self.ied_mm
        return np.stack([x, y], axis=1)

    def labels(self) -> list[str]:
        """Channel labels ``R01C01``, ``R01C02``, ... in channel order."""
        return [f"R{k // self.cols + 1:02d}C{k % self.cols + 1:02d}" for k in self.sites]

    @staticmethod
    def is_label(text: str) -> bool:
        """True for a grid channel label ``R<row>C<col>``."""
        return bool(_LABEL.match(str(text).strip()))

    @classmethod
    def from_labels(cls, labels: Sequence[str], ied_mm: float = 8.0) -> tuple["GridLayout", np.ndarray]:
        """Layout of a recording whose channel labels are ``R<r>C<c>``.

        Labels may come in any order; sites of the rectangle with no label are ``absent``.
        Returns ``(layout, order)``: ``order[k]`` is the recording column of layout channel ``k``.

        Raises:
            ValueError: a label is not ``R<r>C<c>``, or an electrode is repeated.
        """
        pos = []
        for i, lab in enumerate(labels):
            m = _LABEL.match(str(lab).strip())
            if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
                raise ValueError(f"channel {i} label {lab!r} is not a grid label R<row>C<col> (e.g. R01C01)")
            pos.append((int(m.group(1)) - 1, int(m.group(2)) - 1))
        if not pos:
            raise ValueError("no channels")
        rows = max(p[0] for p in pos) + 1
        cols = max(p[1] for p in pos) + 1
        site_of = {}
        for i, (r, c) in enumerate(pos):
            k = r * cols + c
            if k in site_of:
                raise ValueError(f"grid electrode R{r + 1:02d}C{c + 1:02d} appears twice")
            site_of[k] = i
        absent = tuple(k for k in range(rows * cols) if k not in site_of)
        layout = cls(rows, cols, ied_mm, absent)
        return layout, np.array([site_of[int(k)] for k in layout.sites], dtype=np.int64)


#: The garment's HD grids: 13 x 5 at 8 mm over vastus lateralis (default; 64 electrodes, the
#: first corner is empty, as on commercial 13 x 5 grids) and 8 x 8 at 10 mm.
GRIDS: dict[str, GridLayout] = {"13x5": GridLayout(13, 5, 8.0, (0,)), "8x8": GridLayout(8, 8, 10.0)}


def grid(name: str) -> GridLayout:
    """The named grid (``"13x5"`` or ``"8x8"``)."""
    if name not in GRIDS:
        raise ValueError(f"unknown grid {name!r}; known: {', '.join(GRIDS)}")
    return GRIDS[name]
