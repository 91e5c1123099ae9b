"""Pictures a user looks at: a recording (traces, spectrogram, annotations, ground truth),
a confusion matrix, a latency distribution. Each is written as a PNG (matplotlib, Agg:
no display needed) and returns its path."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from garment.recordings.atomic import atomic_path

#: units of the channels drawn as EMG traces (others, e.g. a knee angle, go with the truth)
EMG_UNITS = ("uV", "mV", "V", "µV")
#: at most this many points per trace: longer traces are drawn as min/max envelopes
MAX_POINTS = 4000


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def envelope(x: np.ndarray, fs: float, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, lo, hi)``: ``x`` reduced to at most ``max_points`` min/max pairs, so that a
    long trace keeps every peak (plain decimation would drop spikes)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n <= max_points:
        return np.arange(n) / float(fs), x, x
    per = -(-n // max_points)
    m = n // per
    body = x[: m * per].reshape(m, per)
    lo, hi = body.min(axis=1), body.max(axis=1)
    return (np.arange(m) * per + per / 2) / float(fs), lo, hi


def _save(fig: Any, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _pyplot().close(fig)
    return out


def _label_colours(texts: Sequence[str]) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10")
    return {t: cmap(i % 10) for i, t in enumerate(dict.fromkeys(texts))}


def plot_recording(rec: Any, out: Path, title: str | None = None, spectrogram_channel: int | None = None) -> Path:
    """A recording at a glance: every EMG channel's trace (stacked, each with its scale),
    annotations as labelled spans, the spectrogram of one channel (the strongest unless
    ``spectrogram_channel``), and the ground truth (drive per muscle, crank angle, class)
    or the non-EMG channels (angles...) when present."""
    from scipy import signal  # type: ignore[import-untyped]

    plt = _pyplot()
    fs = float(rec.fs)
    names = list(rec.channel_names)
    units = list(rec.units)
    x = np.asarray(rec.samples, dtype=np.float64)
    emg = [i for i, u in enumerate(units) if u in EMG_UNITS] or list(range(len(names)))
    other = [i for i in range(len(names)) if i not in emg]
    truth = {k: np.asarray(v) for k, v in (rec.truth or {}).items() if np.asarray(v).ndim in (1, 2)}
    has_bottom = bool(other or truth)
    dur = len(x) / fs if fs else 0.0

    rows = [3.0, 1.4] + ([1.2] if has_bottom else [])
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 2.2 + 0.45 * len(emg) + 1.6 * (len(rows) - 1)),
                             sharex=True, gridspec_kw={"height_ratios": rows})
    ax = axes[0]
    # stacked traces: each channel scaled by its own robust range, labelled with it
    offsets = []
    for k, i in enumerate(emg):
        col = x[:, i] - np.median(x[:, i]) if len(x) else x[:, i]
        scale = float(np.percentile(np.abs(col), 99.5)) if len(col) else 1.0
        scale = scale if scale > 0 else 1.0
        off = -2.2 * k
        offsets.append(off)
        t, lo, hi = envelope(col / scale, fs)
        if lo is hi:
            ax.plot(t, lo + off, lw=0.5, color="black")
        else:
            ax.fill_between(t, lo + off, hi + off, lw=0.3, color="black")
        ax.annotate(f"{names[i]}  ±{scale:.3g} {units[i]}", xy=(0, off), xycoords=("axes fraction", "data"),
                    xytext=(-6, 0), textcoords="offset points", ha="right", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(min(offsets, default=0) - 1.3, 1.3)
    ax.set_title(title or str(rec.meta.get("source_file", "")) or "recording", fontsize=10, loc="left")
    # annotations: shaded spans and their text (point events as lines)
    anns = list(rec.annotations)
    colours = _label_colours([a.text for a in anns if a.duration_s > 0])
    shown: set[str] = set()
    for a in anns:
        if a.duration_s > 0:
            c = colours[a.text]
            for axx in axes:
                axx.axvspan(a.onset_s, a.onset_s + a.duration_s, color=c, alpha=0.12, lw=0)
            if a.duration_s >= dur / 60 or a.text not in shown:
                ax.text(a.onset_s, 1.25, a.text, fontsize=7, va="top", color=c, clip_on=True)
            shown.add(a.text)
        else:
            ax.axvline(a.onset_s, color="tab:red", lw=0.6)
            ax.text(a.onset_s, 1.25, a.text, fontsize=6, va="top", color="tab:red", rotation=90, clip_on=True)
    # spectrogram of one EMG channel
    ax = axes[1]
    if spectrogram_channel is None:
        rms = [float(np.sqrt(np.mean((x[:, i] - x[:, i].mean()) ** 2))) if len(x) else 0.0 for i in emg]
        ch = emg[int(np.argmax(rms))] if rms else 0
    else:
        ch = spectrogram_channel
    nper = int(min(len(x), max(16, 2 ** int(np.log2(max(fs * 0.25, 16))))))
    if len(x) >= 16:
        f, ts, sxx = signal.spectrogram(x[:, ch] - x[:, ch].mean(), fs=fs, nperseg=nper, noverlap=nper // 2)
        keep = f <= min(fs / 2, 500.0)
        db = 10 * np.log10(sxx[keep] + 1e-20)
        lo_db = np.percentile(db, 5)
        ax.pcolormesh(ts, f[keep], db, shading="auto", cmap="magma", vmin=lo_db, vmax=db.max())
    ax.set_ylabel(f"{names[ch]}\nHz", fontsize=8)
    # truth or the other channels
    if has_bottom:
        ax = axes[2]
        drawn: list[str] = []
        drive = truth.get("drive")
        if drive is not None and drive.ndim == 2 and len(drive) == len(x):
            for m in range(drive.shape[1]):
                t, lo, hi = envelope(drive[:, m], fs)
                ax.plot(t, hi, lw=0.8, label=names[m] if m < len(names) else f"muscle {m}")
            ax.set_ylabel("drive\n(truth)", fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            drawn.append("drive")
        twin = ax.twinx() if drawn else ax
        for key, label in (("crank_angle_deg", "crank angle (truth), deg"), ("class_index", "class (truth)")):
            v = truth.get(key)
            if v is not None and v.ndim == 1 and len(v) == len(x):
                t, lo, hi = envelope(v.astype(np.float64), fs)
                twin.plot(t, hi, lw=0.5, color="tab:gray", alpha=0.5, label=label)
                twin.set_ylabel(label, fontsize=8)
                drawn.append(key)
                break
        for i in other:
            t, lo, hi = envelope(x[:, i], fs)
            twin.plot(t, hi, lw=0.8, label=f"{names[i]} ({units[i]})")
            twin.set_ylabel(", ".join(f"{names[j]} ({units[j]})" for j in other), fontsize=8)
            drawn.append(names[i])
        if drawn:
            ax.legend(loc="upper right", fontsize=7, ncol=min(8, max(1, len(names))))
            if twin is not ax:
                twin.legend(loc="upper left", fontsize=7)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, dur if dur > 0 else 1)
    fig.tight_layout()
    return _save(fig, out)


def plot_confusion(labels: Sequence[str], matrix: Any, out: Path, title: str = "confusion matrix") -> Path:
    """A confusion matrix (rows true, columns predicted) as counts and row percentages."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    rows = m.sum(axis=1, keepdims=True)
    pct = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(2.0 + 0.9 * n, 1.6 + 0.8 * n))
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(m[i, j])}\n{pct[i, j]:.0%}" if rows[i, 0] else "-", ha="center", va="center",
                    fontsize=8, color="white" if pct[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = m.sum()
    acc = float(np.trace(m) / total) if total else float("nan")
    ax.set_title(f"{title}\naccuracy {acc:.1%} of {int(total)} windows", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return _save(fig, out)


def plot_latency(latencies_ms: Sequence[float], out: Path, targets_ms: tuple[float, float] = (75.0, 100.0),
                 title: str = "EMG onset -> stimulation") -> Path:
    """The latency distribution: histogram with its median and p99 beside the targets."""
    plt = _pyplot()
    lat = np.asarray(latencies_ms, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if len(lat):
        ax.hist(lat, bins=min(40, max(5, len(lat) // 2)), color="tab:blue", alpha=0.8)
        med, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
        ax.axvline(med, color="tab:green", lw=1.5, label=f"median {med:.1f} ms")
        ax.axvline(p99, color="tab:orange", lw=1.5, label=f"p99 {p99:.1f} ms")
    ax.axvline(targets_ms[0], color="tab:green", ls="--", lw=1, label=f"median target {targets_ms[0]:g} ms")
    ax.axvline(targets_ms[1], color="tab:red", ls="--", lw=1, label=f"p99 target {targets_ms[1]:g} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("trials")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{title} ({len(lat)} trials)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out)
