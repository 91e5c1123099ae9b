"""Onset-to-activation latency on the HD phantom: neural drive (motor units) vs EMG amplitude.

The person rests 4 s, then contracts (0.3 s onset) to 25 %MVC and holds 4 s.  Both control
signals are computed causally, batch by batch, as they would feed the stimulation policy:

- *neural drive*: ``MotorUnitTracker`` discharges -> ``NeuralDrive`` (150 ms low-pass), full
  scale = its value on the hold of the calibration;
- *EMG amplitude*: the same causal band-pass, mean rectified value over the 64 channels, the
  same 150 ms low-pass, full scale = its value on the hold (the EMG-amplitude decoder's input).

Latency = time from the drive's onset (truth) to the signal crossing 20 % of its full scale,
at the end of the batch that crossed it (so the batch length counts); over ``--trials`` seeds;
stability = the signal's coefficient of variation on the hold.  The wire and firmware part
(T_ACTIVATION -> first pulse) is the same for both and is not in these figures.

    .venv/bin/python benchmarks/bench_neural_drive_onset.py [--trials 3] [--batch-ms 25]
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from scipy.signal import lfilter
from threadpoolctl import threadpool_limits

from garment.motorunits import MotorUnitTracker, NeuralDrive, calibrate
from garment.motorunits.causal import CausalBandpass
from garment.phantom.hd_phantom import generate_hd

REST_S, HOLD_S, TAU_S, CROSS = 4.0, 4.0, 0.15, 0.2


def onset_stream(seed: int):
    """Rest, then a hold at 25 %MVC reached over 0.3 s (the phantom's multitask scenario)."""
    r = generate_hd("multitask", REST_S + HOLD_S, seed=seed, tasks=["rest", "hold-mid"], task_s=REST_S, rest_s=0.0)
    return r.emg_uV, r.fs, int(np.argmax(r.drive > 0))


def run(seed: int, batch_s: float) -> dict:
    base = generate_hd("trapezoid", 12.0, seed=seed, level=0.2, ramp_s=3.0)
    cal = calibrate(base.emg_uV, base.fs, base.layout.labels())
    emg, fs, onset = onset_stream(seed)
    nb = int(batch_s * fs)
    tr = MotorUnitTracker(cal)
    nd = NeuralDrive(fs, TAU_S, full_scale_hz=1.0)
    bp = CausalBandpass(emg.shape[1], fs)
    a = np.exp(-1.0 / (TAU_S * fs))
    zi = np.zeros(1)
    t_end, mu, amp = [], [], []
    for s in range(0, emg.shape[0], nb):
        res = tr.process(emg[s : s + nb])
        nd.update(res.discharges, res.end_sample)
        mu.append(nd.rate_hz)
        x = np.abs(bp(emg[s : s + nb])).mean(axis=0)
        y, zi = lfilter([1 - a], [1, -a], x, zi=zi)
        amp.append(float(y[-1]))
        t_end.append(res.end_sample)
    t_end, mu, amp = np.array(t_end), np.array(mu), np.array(amp)
    hold = (t_end > onset + 1.5 * fs) & (t_end < onset + HOLD_S * fs)
    out = {}
    for name, sig in (("neural_drive", mu), ("emg_amplitude", amp)):
        rest = sig[t_end < onset]
        full = float(np.mean(sig[hold]))
        level = float(np.percentile(rest, 99)) if rest.size else 0.0
        thr = level + CROSS * (full - level)
        after = np.flatnonzero((t_end > onset) & (sig > thr))
        out[name] = {"latency_ms": None if not after.size else round(1000 * (t_end[after[0]] - onset) / fs, 1),
                     "hold_cov": round(float(np.std(sig[hold]) / max(full, 1e-12)), 4),
                     "rest_over_full": round(level / max(full, 1e-12), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--batch-ms", type=float, default=25.0)
    a = ap.parse_args()
    with threadpool_limits(1):
        rows = [run(seed, a.batch_ms / 1000) for seed in range(1, 1 + a.trials)]
    for r in rows:
        print(json.dumps(r), flush=True)
    summ = {k: {"latency_ms_median": float(np.median([r[k]["latency_ms"] for r in rows if r[k]["latency_ms"] is not None])),
                "hold_cov_median": float(np.median([r[k]["hold_cov"] for r in rows]))} for k in rows[0]}
    print(json.dumps({"batch_ms": a.batch_ms, "trials": a.trials, **summ}))


if __name__ == "__main__":
    main()
