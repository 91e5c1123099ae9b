"""Behaviour 11: stimulation artefacts are blanked from the EMG (blank window after each
pulse, interpolated), so the decoder never reads its own stimulation as intent.

The sim's stimulator couples every pulse into the EMG the AFE converts next (a decaying
spike of ~100 nV per uA on the electrode of the same index, <= 1.5 ms) and tells the rig
the AFE index of the first affected conversion. The raw stream (before blanking) shows the
spikes at those indices; the filtered stream (after blanking) must not. The phantom also
answers each pulse with an evoked M-wave (physiology: ~3-7 ms latency, over by ~20 ms),
which the default blank window (18 ms after the pulse, ~20.5 ms from its onset with the
margins) removes: the closed-loop test runs with the default limits."""
from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Iterator

import numpy as np
import pytest

from garment.client import GarmentClient, StreamConfig
from garment.dataset import device_filter
from garment.features.filters import blank
from garment.features.reference import FeatureConfig, compute_features
from garment.protocol import wire
from garment.sim.feeder import RigPulse
from garment.models.presets import ENVELOPE_FULL_SCALE
from rig import SimRig, StimBench, envelope_model, heartbeat, off_model

MOD = wire.COUNTER_MOD


async def _record(g: GarmentClient, rig: SimRig, kind: int, seconds: float,
                  amplitude_ua: int = 20000, freq_hz: int = 30) -> tuple[np.ndarray, int, list[RigPulse]]:
    """Stream ``kind`` while channel 0 runs a train; (samples (n, 8), first index, pulses
    at the full amplitude)."""
    await g.set_config(StreamConfig(kind=kind))
    mark = rig.mark()
    blocks = []
    await g.start_stream()
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, amplitude_ua, 300, freq_hz, int(seconds * 1000))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, rig.wait_afe, int(seconds * 2000) + 400)
        await g.disarm()
    await g.stop_stream()
    blocks = g.take_buffered()
    assert blocks, "no samples"
    first = blocks[0].first_index
    data = np.vstack([b.data for b in blocks])
    assert blocks[-1].first_index + len(blocks[-1].data) - first == len(data), "samples were lost"
    return data, first, [p for p in rig.pulses(mark, 0) if p.amplitude_ua >= amplitude_ua]


async def test_artefacts_blanked_from_filtered_emg(bench: StimBench) -> None:
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    for ch in range(8):
        feeder.inject_onset(ch, 0.0)  # quiet muscles: the artefacts stand out
    await bench.calibrate(0)
    # the shortest blank window (0.5 ms + the pulse + the firmware's margins, ~4 ms): it must
    # still cover the artefact, and it ends before the M-wave starts, so the samples
    # measured below are the artefact's and the interpolation's only
    await bench.set_limits(slew_ua_per_s=100000, blank_us=500)
    # the decoder running (a model whose policy is "off"), as in use: more work per
    # loop pass between reading the AFE and blanking
    await g.upload_model(off_model())
    bench.model_changed = True
    # 20 Hz: 50 ms between pulses, so the EMG before each pulse is clear of the last M-wave
    raw, first_r, pulses_r = await _record(g, rig, wire.STREAM_RAW, 2.0, freq_hz=20)
    filt, first_f, pulses_f = await _record(g, rig, wire.STREAM_FILTERED, 4.0, freq_hz=20)
    assert len(pulses_r) >= 20 and len(pulses_f) >= 50

    def at(first: int, p: RigPulse) -> int:
        return int((p.afe_index - first) % MOD)

    def d2(x: np.ndarray, lo: int, hi: int) -> float:
        """Largest |second difference| of x centred on samples lo..hi-1: a spike (the
        artefact alternates sign from sample to sample) stands out of the EMG, of the
        filters' ringing after an M-wave and of a blank window's straight line alike."""
        seg = x[lo - 1 : hi + 1].astype(np.int64)
        return float(np.abs(np.diff(seg, 2)).max())

    # raw: a spike at every pulse index (what the blanking must remove)
    spikes = []
    for p in pulses_r:
        i = at(first_r, p)
        if 40 <= i < len(raw) - 10:
            spikes.append(d2(raw[:, 0], i, i + 3))
    spikes_a = np.array(spikes)
    assert len(spikes_a) >= 15
    uv_per_code = 4.5e6 / 24 / 2**23
    expected = 20000 * 100e-3 / uv_per_code  # 20 mA x 100 nV/uA, in codes
    assert np.median(spikes_a) > expected, (np.median(spikes_a), expected)

    # filtered: where the artefact was (before the M-wave starts) nothing stands out
    peaks, before = [], []
    for p in pulses_f:
        i = at(first_f, p)
        if 400 <= i < len(filt) - 30:
            peaks.append(d2(filt[:, 0], i - 1, i + 4))  # the artefact's samples (i..i+3) and one before
            before.append(d2(filt[:, 0], i - 30, i - 4))  # the EMG just before the pulse
    peaks_a, before_a = np.array(peaks), np.array(before)
    assert len(peaks_a) >= 30
    leaked = [(k, int(v)) for k, v in enumerate(peaks_a)
              if v >= 0.1 * np.median(spikes_a) and v > 3 * before_a[k]]
    assert not leaked, (f"{len(leaked)} of {len(peaks_a)} pulses' artefacts not blanked (second difference "
                        f"vs {np.median(spikes_a):.0f} unblanked): {leaked[:5]}")


async def test_decoder_does_not_read_its_own_stimulation(bench: StimBench) -> None:
    """Closed loop (envelope model, proportional): the user's effort starts stimulation;
    when the effort ends the stimulation must end, although every pulse puts a spike
    into the EMG that, unblanked, reads as more effort than the policy's deadband."""
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    for ch in range(8):
        feeder.inject_onset(ch, 0.0)
    rig.set_fatigue(0.0)  # rested muscles (test_neighbouring_channels...: fatigue)
    cal = await bench.calibrate(0, max_ua=20000, motor_ua=18000, sensory_ua=5000)
    await bench.set_limits(slew_ua_per_s=100000)  # the default blank window
    # what the decoder would read without blanking: quiet muscles, a train at the motor
    # threshold (the least the closed loop ever delivers), the raw EMG (artefacts
    # included) through the device's filters and the model's feature
    raw, first, pulses = await _record(g, rig, wire.STREAM_RAW, 1.0, cal.motor_ua)
    assert len(pulses) >= 10
    cfg = FeatureConfig(fs=2000, n_ch=8, window=200, increment=40, features=("MAV",))
    feats, ends = compute_features(device_filter(raw, 2000), cfg)
    i0 = (pulses[0].afe_index - first) % MOD + 200  # windows full of full-amplitude pulses
    i1 = (pulses[-1].afe_index - first) % MOD
    during = feats[(ends >= i0) & (ends <= i1), 0]
    assert len(during) >= 5
    act = float(np.median(during)) / ENVELOPE_FULL_SCALE
    assert act > 0.12, f"unblanked artefacts read as activation {act:.2f} < deadband 0.1: the test would prove nothing"

    await g.set_config(StreamConfig())
    await g.upload_model(envelope_model())
    bench.model_changed = True
    await _closed_loop_stops(bench, rig)


def _read_with_fixed_window(raw: np.ndarray, first: int, pulses: list[RigPulse], window_us: int,
                            fs: int = 2000) -> np.ndarray:
    """What the decoder would read (MAV per channel and window) from this raw EMG if every
    pulse were blanked with a fixed ``window_us`` as the firmware's Blanker maps it (one
    sample early, 4 late), then filtered: the host's bit-exact reference of the device."""
    x = raw.copy()
    for p in pulses:
        i = int((p.afe_index - first) % MOD)
        start = i - 1
        length = (2 * p.width_us + 50 + window_us) * fs // 1_000_000 + 5
        blank(x, 0xFF, start, length)
    cfg = FeatureConfig(fs=fs, n_ch=8, window=200, increment=40, features=("MAV",))
    feats, ends = compute_features(device_filter(x, fs), cfg)
    i0 = (pulses[0].afe_index - first) % MOD + 200
    i1 = (pulses[-1].afe_index - first) % MOD
    return feats[(ends >= i0) & (ends <= i1)]


@contextlib.contextmanager
def _host_stalls(rig: SimRig, stall_s: float, every_s: float = 0.4) -> Iterator[None]:
    """The rig's feeder thread held up ``stall_s`` every ``every_s``, as a loaded host or a
    long garbage collection holds it: past the feeder's lead the AFE's input runs dry."""
    feeder = rig.feeder
    stop = threading.Event()

    def stall() -> None:
        while not stop.wait(every_s):
            with feeder.source_lock:
                time.sleep(stall_s)

    t = threading.Thread(target=stall, name="host-stall", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@pytest.mark.parametrize("fatigue,freq_hz,fixed_us,stall_s", [
    (0.0, 30, 18000, 0.0), (1.0, 20, 24000, 0.0), (1.0, 20, 24000, 0.3)],
    ids=["rested-30Hz", "tired-20Hz", "tired-20Hz-stalled-host"])
async def test_neighbouring_channels_do_not_excite_each_other(
        bench: StimBench, fatigue: float, freq_hz: int, fixed_us: int, stall_s: float) -> None:
    """Two neighbouring muscles (channels 0 and 1, same thigh), each stimulated in
    proportion to its own EMG, effort on channel 0 only. Channel 0's evoked M-wave reaches
    channel 1's electrodes as crosstalk, broader in time than on its own (rested: until
    ~26 ms after the pulse; fatigue slows conduction and stretches it to ~40 ms). A fixed
    window that does not cover it (rested: 18 ms; tired: even the default 24 ms) lets
    channel 1 read it as effort and stimulate, which nobody asked for. With its default
    limits the garment covers both: 24 ms, grown to the measured length of the answer
    (EvokedWindow). Channel 1 stays quiet, and when the effort ends every channel does.

    With a stalled host the rig's AFE input runs dry now and then (a rig fault, not the
    garment's): each M-wave must still answer its own pulse, not land tens of ms late where
    no window covers it (a fresh-clone CI run saw channel 1 stimulated so, once)."""
    rig = bench.need_rig()
    g = bench.g
    feeder = rig.feeder
    rig.set_fatigue(fatigue)
    try:
        for ch in range(8):
            feeder.inject_onset(ch, 0.0)
        assert bench.limits0 is not None
        await bench.set_limits(slew_ua_per_s=100000)
        cal = await bench.calibrate(0, max_ua=20000, motor_ua=18000, sensory_ua=5000, freq_hz=freq_hz)
        await bench.calibrate(1, max_ua=20000, motor_ua=18000, sensory_ua=5000, freq_hz=freq_hz)
        # the control: what channel 1 would read through a fixed window of fixed_us
        raw, first, pulses = await _record(g, rig, wire.STREAM_RAW, 1.5, cal.motor_ua, freq_hz=freq_hz)
        assert len(pulses) >= 10
        during = _read_with_fixed_window(raw, first, pulses, fixed_us)
        assert len(during) >= 5
        act1 = float(np.median(during[:, 1])) / ENVELOPE_FULL_SCALE
        # a deadband above what channel 1 reads of channel 0's voluntary EMG (crosstalk of
        # ~0.1 at this effort): only the stimulation could start channel 1
        deadband = 0.2
        assert act1 > deadband + 0.05, (
            f"through a fixed {fixed_us} us window the crosstalk M-waves read as activation {act1:.2f}: "
            "the test would prove nothing")
        await g.set_config(StreamConfig())
        await g.upload_model(envelope_model(stim={
            "preset": "proportional", "params": {"gain": 1.0, "deadband": deadband, "inputs": [0, 1, 2, 3]}}))
        bench.model_changed = True
        dry = rig.feeder.dry_reports
        with _host_stalls(rig, stall_s) if stall_s else contextlib.nullcontext():
            await _closed_loop_stops(bench, rig, quiet=(1,))
        if stall_s:
            assert rig.feeder.dry_reports > dry, "the stalls did not run the AFE dry: the test would prove nothing"
        if fatigue:  # the garment told the user its window grew
            ev = bench.event("blank window")
            assert ev is not None and "the muscles answer" in ev[3], bench.log.events[-5:]
    finally:
        rig.set_fatigue(0.0)


async def _closed_loop_stops(bench: StimBench, rig: SimRig, quiet: tuple[int, ...] = ()) -> None:
    """Effort on channel 0 starts its stimulation; the ``quiet`` channels (calibrated,
    in the loop, no effort of their own) never stimulate; when the effort ends every
    channel falls quiet."""
    g = bench.g
    feeder = rig.feeder
    loop = asyncio.get_running_loop()
    async with heartbeat(g):
        await g.arm()
        start = rig.mark()
        feeder.inject_onset(0, 0.7)
        ps = await bench.wait_pulses(30, channel=0, timeout=10)
        assert max(p.amplitude_ua for p in ps) >= 10000
        await loop.run_in_executor(None, rig.wait_afe, 2000)  # 1 s of stimulation on channel 0
        for ch in quiet:
            got = rig.pulses(start, ch)
            assert got == [], f"channel {ch} was stimulated without effort: {len(got)} pulses, up to {max(p.amplitude_ua for p in got)} uA"
        feeder.inject_onset(0, 0.0)  # effort ends
        await loop.run_in_executor(None, rig.wait_afe, 1000)  # 0.5 s: the envelope window empties
        mark = rig.mark()
        await loop.run_in_executor(None, rig.wait_afe, 2000)  # 1 s more
        left = rig.pulses(mark)
        assert left == [], f"the stimulation kept itself going: {len(left)} pulses, channels {sorted({p.channel for p in left})}"
        await g.disarm()
