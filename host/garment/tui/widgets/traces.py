"""Live EMG traces drawn with Unicode braille (waveform) and blocks (envelope).

Each :class:`TraceView` shows one channel: three rows of braille (2 x 4 dots per cell,
so 12 dots of height) hold the min-max band of the samples that fall in each dot
column (the decimation keeps every spike visible), and a third row of block
characters holds the RMS envelope of the same columns. Rendering is a few numpy
operations per frame, cheap enough for 8 channels at 30 frames per second.
"""
from __future__ import annotations

import math

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

BRAILLE = 0x2800
# dot bit for (row 0..3, column 0..1) inside one braille cell
_DOT = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int32)
BLOCKS = " ▁▂▃▄▅▆▇█"
_NICE = (1.0, 2.0, 3.0, 5.0)


def nice_scale(value: float, floor: float = 1.0) -> float:
    """The 1-2-3-5 step at or above ``value`` (at least ``floor``)."""
    v = max(float(value), floor)
    e = math.floor(math.log10(v))
    for m in _NICE:
        s = float(m * 10**e)
        if s >= v * 0.999:
            return s
    return float(10.0 ** (e + 1))


def column_stats(x: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min, max and RMS of ``x`` in ``columns`` equal consecutive buckets (newest last)."""
    n = len(x)
    if columns <= 0 or n == 0:
        z = np.zeros(max(columns, 0), dtype=np.float32)
        return z, z, z
    per = max(1, n // columns)
    use = min(n, per * columns)
    seg = x[n - use :]
    k = use // per
    b = seg[: k * per].reshape(k, per)
    lo, hi = b.min(axis=1), b.max(axis=1)
    rms = np.sqrt(np.mean(b.astype(np.float64) ** 2, axis=1)).astype(np.float32)
    if k < columns:  # not enough samples: pad on the left (older side)
        pad = columns - k
        lo = np.concatenate([np.zeros(pad, np.float32), lo])
        hi = np.concatenate([np.zeros(pad, np.float32), hi])
        rms = np.concatenate([np.zeros(pad, np.float32), rms])
    return lo, hi, rms


def braille_band(lo: np.ndarray, hi: np.ndarray, scale: float, rows: int = 3) -> list[str]:
    """Rows of braille drawing, per dot column, the band ``lo..hi`` within ``+-scale``.

    ``lo``/``hi`` have two entries per character cell (2 dot columns per cell).
    """
    h = rows * 4
    cols = len(lo)
    cells = cols // 2
    if cells == 0:
        return [""] * rows
    # dot row 0 is the top: +scale; row h-1 is -scale
    def to_row(v: np.ndarray) -> np.ndarray:
        r = np.floor((1.0 - (v / scale + 1.0) / 2.0) * h)
        return np.clip(r, 0, h - 1).astype(np.int32)

    top = to_row(hi[: cells * 2])
    bot = to_row(lo[: cells * 2])
    ys = np.arange(h)[:, None]
    img = (ys >= top[None, :]) & (ys <= bot[None, :])  # (h, cols)
    img = img.reshape(rows, 4, cells, 2)
    codes = (img * _DOT[None, :, None, :]).sum(axis=(1, 3))  # (rows, cells)
    return ["".join(map(chr, BRAILLE + codes[r])) for r in range(rows)]


def block_row(values: np.ndarray, scale: float) -> str:
    """One row of block characters, 0..scale -> blank..full block."""
    if len(values) == 0:
        return ""
    lv = np.clip(np.round(values / max(scale, 1e-9) * 8), 0, 8).astype(np.int32)
    return "".join(BLOCKS[i] for i in lv)


class TraceView(Widget):
    """One channel's waveform (3 rows of braille) over its RMS envelope (1 row of blocks).

    Lines are produced by ``render_line`` as ready-made strips (no Rich layout per frame):
    the rows are computed once per new data or size and cached.
    """

    ROWS = 3  # braille rows of the waveform; one more row holds the envelope
    DEFAULT_CSS = """
    TraceView { height: 4; width: 1fr; }
    """
    WAVE = Style(color="bright_green")
    WAVE_OFF = Style(color="red")
    ENVELOPE = Style(color="yellow")

    def __init__(self, channel: int, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.channel = channel
        self._x: np.ndarray = np.zeros(0, dtype=np.float32)
        self.scale_uV = 100.0
        self.env_scale_uV = 50.0
        self.lead_off = False
        self._rows: list[str] | None = None
        self._rows_width = -1

    def show(self, x: np.ndarray, scale_uV: float, env_scale_uV: float, lead_off: bool = False) -> None:
        """New samples (oldest first) and scales; repaints."""
        self._x = x
        self.scale_uV = scale_uV
        self.env_scale_uV = env_scale_uV
        self.lead_off = lead_off
        self._rows = None
        self.refresh()

    def rows(self, width: int) -> list[str]:
        """The ROWS braille lines and the envelope line for ``width`` cells."""
        if self._rows is not None and self._rows_width == width:
            return self._rows
        if width <= 0:
            return [""] * (self.ROWS + 1)
        lo, hi, _ = column_stats(self._x, width * 2)
        rows = braille_band(lo, hi, self.scale_uV, self.ROWS)
        env = column_stats(self._x, width)[2]
        if len(env) >= 3:  # light smoothing: a 3-column moving average
            env = np.convolve(np.pad(env, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        rows.append(block_row(env, self.env_scale_uV))
        self._rows, self._rows_width = rows, width
        return rows

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        rows = self.rows(width)
        if not 0 <= y < len(rows):
            return Strip.blank(width, self.rich_style)
        base = self.rich_style  # the widget's background from CSS
        style = base + (self.ENVELOPE if y == self.ROWS else (self.WAVE_OFF if self.lead_off else self.WAVE))
        text = rows[y][:width]
        return Strip([Segment(text.ljust(width), style)], width)

    def render(self) -> Text:
        """The same picture as Rich text (tests, screenshots of the widget alone)."""
        return Text("\n".join(self.rows(self.size.width)), no_wrap=True, overflow="crop")
