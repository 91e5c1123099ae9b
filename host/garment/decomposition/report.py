"""PNG report of a decomposition: discharge raster, smoothed rates and MUAPs laid out on the grid."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from garment.phantom.hd_grid import GridLayout

from .decompose import Decomposition

#: Units whose action potentials are drawn on the grid.
MUAP_PANELS = 4


def smoothed_rate(discharges: np.ndarray, fs: float, n: int, window_s: float = 1.0) -> np.ndarray:
    """Discharge rate (Hz) smoothed by a Hann window of ``window_s`` (neural drive of one unit)."""
    train = np.zeros(n)
    train[discharges[(discharges >= 0) & (discharges < n)]] = fs
    k = np.hanning(max(3, int(window_s * fs)))
    return np.convolve(train, k / k.sum(), mode="same")


def write_report(dec: Decomposition, layout: GridLayout, path: str | Path, title: str = "") -> Path:
    """Write the report PNG and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig = plt.figure(figsize=(14, 9))
    gs = fig.add_gridspec(2, MUAP_PANELS, height_ratios=[1.2, 1.0])
    ax = fig.add_subplot(gs[0, : MUAP_PANELS // 2])
    t_end = dec.n_samples / dec.fs
    for k, u in enumerate(dec.units):
        ax.vlines(u.discharges / dec.fs, k + 0.6, k + 1.4, lw=0.6, color=f"C{k % 10}")
    ax.set(xlim=(0, t_end), ylim=(0.4, max(len(dec.units), 1) + 0.6), xlabel="time (s)", ylabel="unit",
           title=f"discharges: {len(dec.units)} units, SIL >= {min((u.sil for u in dec.units), default=0):.2f}")
    ax = fig.add_subplot(gs[0, MUAP_PANELS // 2 :])
    step = max(1, dec.n_samples // 4000)
    tt = np.arange(0, dec.n_samples, step) / dec.fs
    for k, u in enumerate(dec.units):
        ax.plot(tt, smoothed_rate(u.discharges, dec.fs, dec.n_samples)[::step], lw=0.8, color=f"C{k % 10}")
    ax.set(xlim=(0, t_end), xlabel="time (s)", ylabel="rate (Hz, 1 s Hann)", title="smoothed discharge rates")
    biggest = sorted(range(len(dec.units)), key=lambda k: -float(np.ptp(dec.units[k].muap)))[:MUAP_PANELS]
    pos = layout.positions_mm()
    for p, k in enumerate(biggest):
        ax = fig.add_subplot(gs[1, p])
        m = dec.units[k].muap  # (L, E)
        amp = float(np.abs(m).max()) or 1.0
        span = np.linspace(0, 0.8 * layout.ied_mm, m.shape[0])
        for e in range(m.shape[1]):
            ax.plot(pos[e, 1] + span - 0.4 * layout.ied_mm, pos[e, 0] + 0.45 * layout.ied_mm * m[:, e] / amp,
                    lw=0.7, color=f"C{k % 10}")
        props = dec.units[k].properties
        extra = f"\ndepth {props['depth_mm']:.1f} mm, CV {props['cv']:.1f} m/s" if props else ""
        ax.set(title=f"unit {k}: MUAP {np.ptp(m):.0f} uV p-p{extra}", xticks=[], yticks=[],
               xlabel="across fibres", ylabel="along fibres")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
