"""Validation report (PNG): does the phantom look like physiology and like real recordings?"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .batch import generate
from .metrics import fold_by_angle, highpass, median_frequency, rms_envelope, welch_psd
from .stream import PhantomStream


def _dominant_period(env: np.ndarray, fs: float, lo_s: float = 0.4, hi_s: float = 6.0) -> float | None:
    """Period of the strongest repetition of an envelope (autocorrelation peak), or None."""
    e = env - env.mean()
    n = e.size
    hi_s = min(hi_s, n / fs / 2)  # need at least two cycles
    if hi_s <= lo_s:
        return None
    spec = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    ac /= ac[0] + 1e-12
    a, b = int(lo_s * fs), int(hi_s * fs)
    if b - a < 3:
        return None
    lag = a + int(np.argmax(ac[a:b]))
    # A real repetition is a local maximum inside the search range, not its edge.
    if lag in (a, b - 1) or ac[lag] < 0.1:
        return None
    return lag / fs


def _fold_real(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Envelopes of a real recording folded at its dominant period (phase 0 = start)."""
    env = rms_envelope(x, fs, 0.1)
    dec = max(int(fs // 50), 1)  # 50 Hz is plenty for envelopes
    e = env[::dec]
    z = (e - e.mean(0)) / (e.std(0) + 1e-12)
    period = _dominant_period(z.sum(axis=1), fs / dec)
    if period is None:
        return np.zeros(0), np.zeros((0, x.shape[1])), None
    ang = (np.arange(e.shape[0]) * dec / fs) % period / period * 360.0
    bins = int(min(36, period * fs / dec / 2))  # at least ~2 envelope samples per bin
    c, m = fold_by_angle(e, ang, bins)
    return c, m, period


def write_validation_report(
    out_png: Path,
    real: list[tuple[str, np.ndarray, float]] | None = None,
    seed: int = 0,
    fs: float = 2000.0,
    quick: bool = False,
) -> Path:
    """Plot the phantom's validation figures (and real recordings beside them) to ``out_png``.

    Panels: spectra of a sustained 70 % contraction, fresh vs fatigued (median frequencies
    marked); RMS versus true drive (MVC ramps); cycling envelopes over a pedal cycle with the
    true drive; stimulation artefacts and M-waves; a raw cycling trace; and, for each real recording ``(name, samples (n, ch) any units, fs)``, its
    envelopes folded at its dominant movement period and its spectra next to the phantom's.

    Args:
        out_png: file to write.
        real: optional real recordings.
        seed: phantom seed.
        fs: phantom sampling rate.
        quick: shorter phantom runs (for tests; the fatigue panel then uses a faster
            fatigue rate so that the effect stays visible).

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_png = Path(out_png)
    real = real or []
    rows = 3 + len(real)
    fig, axes = plt.subplots(rows, 2, figsize=(13, 4.2 * rows), squeeze=False)

    # 1. Fatigue: sustained contraction of one muscle, spectra early vs late.
    sus_s, rate = (20.0, 3.0) if quick else (60.0, 1.0)
    sus = generate("sustained", sus_s, fs, channels=2, seed=seed, level=0.7, muscles=["L_VL"], fatigue_rate=rate)
    x = sus.emg_uV[:, 1]
    n5 = int(5 * fs)
    ax = axes[0, 0]
    for seg, label, col in ((x[int(1.5 * fs) : int(1.5 * fs) + n5], "fresh (1.5-6.5 s)", "C0"), (x[-n5:], "fatigued (last 5 s)", "C3")):
        f, p = welch_psd(seg, fs, 1024)
        mf = median_frequency(seg, fs, nperseg=1024)
        ax.semilogy(f, p, color=col, label=f"{label}: MF {mf:.0f} Hz")
        ax.axvline(mf, color=col, ls="--")
    ax.set_xlim(0, min(500, fs / 2))
    ax.set_xlabel("Hz")
    ax.set_ylabel("uV^2/Hz")
    ax.set_title(f"Phantom L_VL, sustained 70 % drive for {sus_s:g} s (fatigue rate x{rate:g})")
    ax.legend(fontsize=8)

    # 2. RMS versus drive during MVC ramps.
    mvc = generate("mvc", 9.0 if quick else 34.0, fs, channels=1 if quick else 4, seed=seed, rest_s=2.0)
    env = rms_envelope(mvc.emg_uV, fs, 0.25)
    d = mvc.truth["drive"]
    ax = axes[0, 1]
    bins = np.linspace(0, 1, 21)
    for m, name in enumerate(mvc.muscles):
        k = np.digitize(d[:, m], bins) - 1
        mean = [env[k == i, m].mean() if np.any(k == i) else np.nan for i in range(20)]
        ax.plot((bins[:-1] + bins[1:]) / 2, mean, "o-", ms=3, label=name)
    ax.set_xlabel("true drive (fraction of MVC)")
    ax.set_ylabel("RMS (uV, 250 ms)")
    ax.set_title("Phantom: RMS vs drive (MVC ramps, incl. co-activation)")
    ax.legend(fontsize=8)

    # 3. Cycling envelopes over the pedal cycle.
    cyc = generate("cycling", 8.0 if quick else 20.0, fs, channels=8, seed=seed)
    env = rms_envelope(cyc.emg_uV, fs, 0.05)
    c, m_env = fold_by_angle(env, cyc.truth["crank_angle_deg"])
    _, m_drv = fold_by_angle(cyc.truth["drive"], cyc.truth["crank_angle_deg"])
    ax = axes[1, 0]
    for i, name in enumerate(cyc.channel_names):
        col = f"C{i % 4}"
        ls = "-" if name.startswith("L") else ":"
        ax.plot(c, m_env[:, i] / np.nanmax(m_env[:, i]), color=col, ls=ls, label=name)
    ax.set_xlabel("left crank angle (deg, 0 = TDC)")
    ax.set_ylabel("normalised RMS envelope")
    ax.set_title("Phantom cycling 80 rpm: envelopes over a pedal cycle (dotted = right leg)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_xlim(0, 360)
    ax = axes[1, 1]
    for i, name in enumerate(cyc.channel_names):
        ax.plot(c, m_drv[:, i], color=f"C{i % 4}", ls="-" if name.startswith("L") else ":", label=name)
    ax.set_xlabel("left crank angle (deg)")
    ax.set_ylabel("true drive")
    ax.set_title("Ground truth drive over the pedal cycle")
    ax.set_xlim(0, 360)

    # 4. Stimulation: artefact and M-wave below / above motor threshold; raw cycling trace.
    ax = axes[2, 0]
    base = PhantomStream("rest", fs, channels=2, seed=seed).next_block(int(0.2 * fs))
    tt = (np.arange(base.shape[0]) / fs - 0.05) * 1000
    for ma, col in ((6.0, "C0"), (12.0, "C1"), (25.0, "C3")):
        st = PhantomStream("rest", fs, channels=2, seed=seed)
        st.stimulate(0.05, 1, ma, 300)
        y = st.next_block(base.shape[0])[:, 1]
        ax.plot(tt, y / 1000, color=col, label=f"{ma:g} mA, 300 us on L_VL")
    ax.axvspan(3, 6, color="0.9", zorder=0, label="3-6 ms")
    ax.set_xlim(-5, 60)
    ax.set_ylim(-15, 15)
    ax.set_xlabel("ms after pulse")
    ax.set_ylabel("mV")
    ax.set_title("Stimulation artefact + evoked M-wave (motor threshold 8 mA at 300 us)")
    ax.legend(fontsize=8)
    ax = axes[2, 1]
    i0, i1 = int(3 * fs), int(5 * fs)
    tt = np.arange(i0, i1) / fs
    for k, i in enumerate((1, 2, 5)):
        ax.plot(tt, cyc.emg_uV[i0:i1, i] - 800.0 * k, lw=0.5, label=cyc.channel_names[i])
    ax2 = ax.twinx()
    ax2.plot(tt, cyc.truth["crank_angle_deg"][i0:i1], color="k", lw=0.8)
    ax2.set_ylabel("crank angle (deg)")
    ax.set_xlabel("s")
    ax.set_ylabel("uV (offset per channel)")
    ax.set_title("Raw phantom cycling EMG and crank angle")
    ax.legend(fontsize=8, loc="upper left")

    # 5. Real recordings beside the phantom.
    fp, pp = welch_psd(highpass(cyc.emg_uV, fs), fs, 1024)
    phantom_spec = pp.mean(axis=1)
    for r, (name, samples, rfs) in enumerate(real, start=3):
        xr = np.asarray(samples, dtype=float)
        if xr.ndim == 1:
            xr = xr[:, None]
        xr = xr[~np.isnan(xr).any(axis=1)]
        ax = axes[r, 0]
        rc, rm, period = _fold_real(xr, rfs)
        if period is not None:
            for i in range(rm.shape[1]):
                ax.plot(rc, rm[:, i] / (np.nanmax(rm[:, i]) + 1e-12), label=f"ch{i}")
            ax.set_title(f"{name}: envelopes folded at dominant period {period:.2f} s")
        else:
            ax.set_title(f"{name}: no repeating movement found")
        ax.set_xlabel("phase of movement cycle (deg)")
        ax.set_ylabel("normalised RMS envelope")
        if period is not None:
            ax.legend(fontsize=7)
        ax = axes[r, 1]
        f, p = welch_psd(highpass(xr, rfs), rfs, int(2 ** np.round(np.log2(rfs / 2))))
        ps = p.mean(axis=1)
        ax.semilogy(f, ps / ps.max(), label=f"{name} (MF {np.median(median_frequency(xr, rfs)):.0f} Hz)")
        ax.semilogy(fp, phantom_spec / phantom_spec.max(), label=f"phantom cycling (MF {np.median(median_frequency(cyc.emg_uV, fs)):.0f} Hz)")
        ax.set_xlim(0, min(500, rfs / 2))
        ax.set_xlabel("Hz")
        ax.set_ylabel("normalised PSD")
        ax.set_title(f"Spectra: {name} vs phantom")
        ax.legend(fontsize=8)

    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=80)
    plt.close(fig)
    return out_png
