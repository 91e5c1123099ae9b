"""Validation of the surface-EMG phantom: determinism, ground truth, physiology, artefacts, AFE."""
from __future__ import annotations

import numpy as np
import pytest

from garment.phantom import (
    MONTAGE,
    PhantomStream,
    afe_codes,
    codes_to_uV,
    generate,
    lsb_uV,
    median_frequency,
    motor_threshold_ma,
    pulse_train,
    write_validation_report,
)
from garment.phantom.metrics import fold_by_angle, highpass, rms_envelope, welch_psd


def _rms(x: np.ndarray, fs: float) -> float:
    return float(np.sqrt(np.mean(highpass(x, fs) ** 2)))


# -- determinism, shapes, ground truth ---------------------------------------------------------


def test_same_seed_same_signal_different_seed_different_signal() -> None:
    a = generate("cycling", 1.5, fs=1000, channels=4, seed=3)
    b = generate("cycling", 1.5, fs=1000, channels=4, seed=3)
    c = generate("cycling", 1.5, fs=1000, channels=4, seed=4)
    assert np.array_equal(a.emg_uV, b.emg_uV)
    for m in a.muscles:
        assert all(np.array_equal(x, y) for x, y in zip(a.truth["spikes"][m], b.truth["spikes"][m]))
    assert not np.allclose(a.emg_uV, c.emg_uV)


def test_cycling_shapes_and_ground_truth() -> None:
    fs, secs, rpm = 1000.0, 3.0, 90.0
    r = generate("cycling", secs, fs=fs, channels=8, seed=1, cadence_rpm=rpm, cadence_jitter_rpm=0.0)
    n = int(secs * fs)
    assert r.emg_uV.shape == (n, 8) and r.emg_uV.dtype == np.float32
    assert r.units == "uV" and r.fs == fs
    assert r.channel_names == list(MONTAGE) and r.muscles == list(MONTAGE)
    drive = r.truth["drive"]
    assert drive.shape == (n, 8) and drive.min() >= 0.0 and drive.max() <= 1.0
    crank = r.truth["crank_angle_deg"]
    assert crank.shape == (n,) and crank.min() >= 0.0 and crank.max() < 360.0
    slope = np.polyfit(np.arange(n) / fs, np.unwrap(np.deg2rad(crank)), 1)[0]
    assert slope == pytest.approx(np.deg2rad(6.0 * rpm), rel=1e-3)
    spikes = r.truth["spikes"]
    assert set(spikes) == set(MONTAGE)
    for trains in spikes.values():
        assert len(trains) == 100
        for s in trains:
            assert s.dtype == np.int64 and (s.size == 0 or (s.min() >= 0 and s.max() < n))
            assert np.all(np.diff(s) > 0)  # ISIs positive (refractory)
    # Only units above threshold fire: with cycling drive < 0.5, the largest units stay silent.
    assert sum(s.size for s in spikes["L_VL"][:20]) > 0
    assert sum(s.size for s in spikes["L_VL"][-10:]) == 0
    assert r.annotations and r.annotations[0][2].startswith("cycling")


@pytest.mark.parametrize(("channels", "fs"), [(1, 250.0), (3, 500.0), (8, 4000.0)])
def test_channel_count_and_rate(channels: int, fs: float) -> None:
    r = generate("rest", 1.0, fs=fs, channels=channels, seed=0)
    assert r.emg_uV.shape == (int(fs), channels)
    assert r.channel_names == list(MONTAGE[:channels])
    assert np.all(np.isfinite(r.emg_uV))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        generate("rest", 1.0, channels=9)
    with pytest.raises(ValueError):
        generate("rest", 1.0, channels=0)
    with pytest.raises(ValueError):
        generate("swimming", 1.0)
    with pytest.raises(TypeError):
        generate("cycling", 1.0, cadance_rpm=80)  # misspelt option is not silently ignored


def test_stream_blocks_equal_batch_for_any_block_sizes() -> None:
    fs = 1000.0
    batch = generate("gestures", 2.0, fs=fs, channels=3, seed=7)
    s = PhantomStream("gestures", fs=fs, channels=3, seed=7)
    rng = np.random.default_rng(0)
    out, total = [], int(2.0 * fs)
    while sum(b.shape[0] for b in out) < total:
        n = min(int(rng.integers(0, 400)), total - sum(b.shape[0] for b in out))
        blk = s.next_block(n)
        assert blk.shape == (n, 3) and blk.dtype == np.float32
        out.append(blk)
    assert np.array_equal(np.concatenate(out), batch.emg_uV)
    assert s.position == total


# -- physiology ------------------------------------------------------------------------------


def test_median_frequency_in_physiological_band() -> None:
    fs = 2000.0
    r = generate("sustained", 3.0, fs=fs, channels=2, seed=0, level=0.5, fatigue_rate=0.0)
    mf = median_frequency(r.emg_uV[int(1.0 * fs) :], fs)
    assert np.all((mf > 50.0) & (mf < 150.0)), mf


def test_median_frequency_falls_with_fatigue_and_not_without() -> None:
    fs, secs = 1000.0, 30.0
    opts = dict(level=0.7, muscles=["L_VL"], mains_uV=0.0)
    tired = generate("sustained", secs, fs=fs, channels=2, seed=2, fatigue_rate=2.0, **opts)
    fresh = generate("sustained", secs, fs=fs, channels=2, seed=2, fatigue_rate=0.0, **opts)
    w = int(5 * fs)

    def early_late(r):  # L_VL: after the ramp vs the last 5 s
        x = r.emg_uV[:, 1]
        return median_frequency(x[int(1.5 * fs) : int(1.5 * fs) + w], fs), median_frequency(x[-w:], fs)

    e, l = early_late(tired)
    assert l < 0.88 * e, (e, l)
    e0, l0 = early_late(fresh)
    assert abs(l0 - e0) < 0.05 * e0, (e0, l0)
    cv = tired.truth["cv_factor"][:, 1]
    assert cv[0] == 1.0 and cv[-1] < 0.85 and np.all(np.diff(cv) <= 0)
    assert np.all(fresh.truth["cv_factor"] == 1.0)


def test_rms_rises_monotonically_with_drive() -> None:
    fs = 1000.0
    levels = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0]
    rms = []
    for lvl in levels:
        r = generate("sustained", 2.5, fs=fs, channels=1, seed=5, level=lvl, fatigue_rate=0.0, rise_s=0.2)
        rms.append(_rms(r.emg_uV[int(0.8 * fs) :, 0], fs))
    assert np.all(np.diff(rms) > 0), rms
    rest = generate("rest", 2.5, fs=fs, channels=1, seed=5)
    assert _rms(rest.emg_uV[int(0.8 * fs) :, 0], fs) < 0.5 * rms[0]
    assert 150.0 < rms[-1] < 800.0  # MVC-level surface EMG is hundreds of microvolts


def test_bigger_units_are_recruited_later_during_a_ramp() -> None:
    r = generate("mvc", 7.0, fs=1000.0, channels=1, seed=0, lead_s=0.5, ramp_s=5.0)
    first = [s[0] if s.size else np.inf for s in r.truth["spikes"]["L_RF"]]
    fired = np.isfinite(first)
    assert fired.sum() > 60
    order = np.argsort(np.argsort(np.asarray(first)[fired]))
    rho = np.corrcoef(order, np.arange(fired.sum()))[0, 1]
    assert rho > 0.95


def test_cycling_bursts_follow_crank_and_right_leg_is_half_a_cycle_later() -> None:
    fs = 1000.0
    r = generate("cycling", 8.0, fs=fs, channels=6, seed=3, cadence_rpm=80)
    env = rms_envelope(r.emg_uV, fs, 0.05)
    centres, m = fold_by_angle(env, r.truth["crank_angle_deg"], bins=72)
    l_vl, r_vl = m[:, 1], m[:, 5]
    peak = centres[np.argmax(l_vl)]
    assert min(abs(peak - 30.0), 360 - abs(peak - 30.0)) < 45.0  # VL: downstroke
    lags = [np.dot(np.roll(l_vl - l_vl.mean(), k), r_vl - r_vl.mean()) for k in range(72)]
    lag_deg = int(np.argmax(lags)) * 5.0
    assert abs(lag_deg - 180.0) <= 30.0
    assert l_vl.max() > 2.5 * l_vl.min()  # bursts, not tonic activity


def test_gestures_are_labelled_and_drive_the_right_muscles() -> None:
    fs = 500.0
    r = generate("gestures", 26.0, fs=fs, channels=8, seed=1)
    classes = r.truth["classes"]
    assert classes[0] == "rest" and set(classes) == {"rest", "knee_extension", "knee_flexion", "co_contraction"}
    texts = {a[2] for a in r.annotations}
    assert texts <= set(classes)
    ci, d = r.truth["class_index"], r.truth["drive"]
    for onset, dur, text in r.annotations:
        mid = int((onset + dur / 2) * fs)
        if mid < ci.size:
            assert classes[ci[mid]] == text
    ext = ci == classes.index("knee_extension")
    flex = ci == classes.index("knee_flexion")
    rest = ci == 0
    assert ext.any() and flex.any()
    assert d[ext][:, [0, 1]].mean() > 3 * d[ext][:, [2, 3]].mean()  # quadriceps > hamstrings
    assert d[flex][:, [2, 3]].mean() > 3 * d[flex][:, [0, 1]].mean()
    env = rms_envelope(r.emg_uV[:, 1], fs, 0.2)
    assert env[ext].mean() > 3 * env[rest].mean()


def test_mvc_reaches_max_drive_per_muscle_in_turn() -> None:
    r = generate("mvc", 40.0, fs=250.0, channels=4, seed=0)
    d = r.truth["drive"]
    names = [a[2] for a in r.annotations]
    assert names == ["mvc L_RF", "mvc L_VL", "mvc L_BF", "mvc L_ST"]
    for i, (onset, dur, _) in enumerate(r.annotations):
        sl = slice(int(onset * 250), int((onset + dur) * 250))
        assert d[sl, i].max() == pytest.approx(1.0)
        assert np.argmax(d[sl].max(axis=0)) == i


# -- interference and artefacts ---------------------------------------------------------------


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_interference_at_the_mains_frequency(mains: float) -> None:
    fs = 1000.0
    r = generate("rest", 4.0, fs=fs, channels=2, seed=0, mains_hz=mains, mains_uV=20.0)
    f, p = welch_psd(r.emg_uV, fs, 1000)
    band = (f >= 30) & (f <= 100)
    assert np.all(f[band][np.argmax(p[band], axis=0)] == mains)
    other = 60.0 if mains == 50.0 else 50.0
    assert np.all(p[f == mains][0] > 100 * p[f == other][0])


def test_motion_artefacts_are_recorded_and_low_frequency() -> None:
    fs = 1000.0
    r = generate("rest", 4.0, fs=fs, channels=2, seed=0, motion_rate_hz=2.0, motion_uV=300.0, wander_uV=0.0)
    ev = r.truth["motion_artefacts"]
    assert ev.shape[1] == 4 and ev.shape[0] >= 4
    onset, ch, amp, tau = ev[0]
    i = int(onset * fs)
    seg = r.emg_uV[i : i + int(8 * tau * fs), int(ch)]
    assert np.max(np.abs(seg)) > 0.3 * abs(amp)


def _stim_difference(ma: float, width_us: float = 300.0, fs: float = 2000.0, ch: int = 1) -> tuple[np.ndarray, PhantomStream]:
    """Samples with a pulse at 1.0 s minus the same seed without it (artefact + M-wave)."""
    a = PhantomStream("rest", fs=fs, channels=5, seed=11)
    b = PhantomStream("rest", fs=fs, channels=5, seed=11)
    assert b.stimulate(1.0, ch, ma, width_us)
    n = int(1.2 * fs)
    return (b.next_block(n) - a.next_block(n)).astype(float), b


def test_m_wave_follows_pulses_above_motor_threshold_and_grows() -> None:
    fs = 2000.0
    i0 = int(1.0 * fs)
    late = slice(i0 + int(0.012 * fs), i0 + int(0.040 * fs))  # after the artefact's tail
    th = motor_threshold_ma(300)
    p2p = {}
    for ma in (0.5 * th, 1.3 * th, 1.8 * th, 3.0 * th):
        d, _ = _stim_difference(ma, fs=fs)
        assert np.all(d[:i0] == 0.0)  # nothing before the pulse
        assert np.abs(d[i0 : i0 + 4, 1]).max() > 1000.0  # artefact spike at the pulse
        p2p[ma] = np.ptp(d[late, 1])
    sub, *supra = p2p.values()
    assert sub < 100.0
    assert supra[0] > 5 * sub
    assert supra[0] < supra[1] < supra[2] * 1.05
    assert supra[2] > 1000.0  # a maximal M-wave is millivolts


def test_m_wave_latency_and_truth() -> None:
    fs = 4000.0
    s = PhantomStream("rest", fs=fs, channels=2, seed=11, keep_truth=True, noise_uV=0.0, mains_uV=0.0, wander_uV=0.0)
    s.stimulate(0.5, 1, 30.0, 300)
    x = s.next_block(int(0.6 * fs))
    # Remove the artefact (same waveform, measured below threshold and scaled) to see the M-wave.
    a = PhantomStream("rest", fs=fs, channels=2, seed=11, noise_uV=0.0, mains_uV=0.0, wander_uV=0.0)
    a.stimulate(0.5, 1, 3.0, 300)
    base = PhantomStream("rest", fs=fs, channels=2, seed=11, noise_uV=0.0, mains_uV=0.0, wander_uV=0.0)
    art = (a.next_block(x.shape[0]) - base.next_block(x.shape[0]))[:, 1] * 10.0
    ref = PhantomStream("rest", fs=fs, channels=2, seed=11, noise_uV=0.0, mains_uV=0.0, wander_uV=0.0)
    m = x[:, 1] - ref.next_block(x.shape[0])[:, 1] - art
    i0 = int(0.5 * fs)
    w = np.abs(m[i0 : i0 + int(0.05 * fs)])
    onset_ms = np.argmax(w > 0.1 * w.max()) / fs * 1000
    assert 2.0 <= onset_ms <= 7.0, onset_ms
    pulses = s.result(x).truth["stim_pulses"]
    assert pulses.shape == (1, 5) and pulses[0, 1] == 1 and pulses[0, 4] == 1.0


def test_stim_artefact_spreads_to_neighbours_and_less_across_legs() -> None:
    d, _ = _stim_difference(20.0)
    i0 = 2000
    peak = np.abs(d[i0 : i0 + 6]).max(axis=0)
    assert peak[1] > 3 * peak[0] > 0  # L_VL stimulated; L_RF is its neighbour
    assert peak[0] > 5 * peak[4]  # R_RF: other leg


def test_late_pulses_are_accepted_within_50_ms_only() -> None:
    s = PhantomStream("rest", fs=1000.0, channels=2, seed=0)
    s.next_block(1000)
    assert s.stimulate(0.99, 0, 20.0, 300)  # 10 ms late: applied to what follows
    assert s.stimulate(0.955, 0, 20.0, 300)  # 45 ms late: still accepted
    assert not s.stimulate(0.90, 0, 20.0, 300)  # 100 ms late: ignored
    ref = PhantomStream("rest", fs=1000.0, channels=2, seed=0)
    ref.next_block(1000)
    d = s.next_block(50)[:, 0] - ref.next_block(50)[:, 0]
    assert np.abs(d).max() > 100.0  # the late pulse's tail/M-wave shows up


def test_batch_stimulation_option_and_annotation() -> None:
    pulses = pulse_train(1, 1.0, 0.5, rate_hz=20, amplitude_ma=25.0)
    r = generate("rest", 2.0, fs=1000.0, channels=2, seed=0, stim_pulses=pulses)
    assert r.truth["stim_pulses"].shape == (10, 5)
    assert any(a[2].startswith("stim L_VL") for a in r.annotations)
    assert np.abs(r.emg_uV[1000:1500, 1]).max() > 1000.0 > np.abs(r.emg_uV[:900, 1]).max()


def test_injected_onset_steps_at_the_known_time_seamlessly() -> None:
    fs = 1000.0
    early = PhantomStream("rest", fs=fs, channels=2, seed=4)
    early.inject_onset(1.0, 1, 0.6)
    x_early = early.next_block(2000)
    late = PhantomStream("rest", fs=fs, channels=2, seed=4, keep_truth=True)
    head = late.next_block(930)  # inside the segment that must be re-rendered
    late.inject_onset(1.0, "L_VL", 0.6)
    x_late = np.concatenate([head, late.next_block(1070)])
    none = PhantomStream("rest", fs=fs, channels=2, seed=4).next_block(2000)
    assert np.array_equal(x_early, x_late)
    assert np.array_equal(x_early[:1000], none[:1000])  # the past is not rewritten
    drive = late.result().truth["drive"][:, 1]
    assert np.all(drive[:1000] == 0.0) and np.all(drive[1000:] == pytest.approx(0.6))
    assert _rms(x_early[1100:, 1], fs) > 5 * _rms(x_early[:1000, 1], fs)
    late.set_drive("L_VL", None)  # release back to the scenario (rest)
    late.next_block(600)
    assert np.all(late.last_truth["drive"][:, 1] == 0.0)


# -- AFE -------------------------------------------------------------------------------------


def test_afe_quantisation_and_rails() -> None:
    lsb = lsb_uV(24, 4.5)
    assert lsb == pytest.approx(2 * 4.5 / 24 / 2**24 * 1e6)
    x = np.array([0.0, lsb * 0.4, lsb * 0.6, -lsb * 3, 1000.0, 1e9, -1e9])
    c = afe_codes(x)
    assert c.dtype == np.int32
    assert list(c[:4]) == [0, 0, 1, -3]
    assert c[5] == 2**23 - 1 and c[6] == -(2**23)
    back = codes_to_uV(c)
    assert np.abs(back[:5] - x[:5]).max() <= lsb / 2 + 1e-9
    assert back[5] == pytest.approx(187500.0, rel=1e-5)  # +VREF/gain
    r = generate("rest", 0.5, fs=500.0, channels=2, seed=0)
    assert np.abs(codes_to_uV(afe_codes(r.emg_uV)) - r.emg_uV).max() <= lsb


# -- report ----------------------------------------------------------------------------------


def test_validation_report_png(tmp_path) -> None:
    fs = 1000.0
    t = np.arange(int(6 * fs)) / fs
    burst = (np.sin(2 * np.pi * t / 1.2) > 0.3).astype(float)
    fake = np.random.default_rng(0).standard_normal((t.size, 2)) * (0.01 + burst[:, None]) * 0.1  # mV
    out = write_validation_report(tmp_path / "r.png", real=[("fake gait", fake, fs)], fs=1000.0, quick=True)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
