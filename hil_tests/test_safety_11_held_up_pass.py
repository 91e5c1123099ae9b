"""Behaviour 11 with a held-up loop (SAFETY row m11): the blank windows stay on the pulses.

On an MCU the AFE's DRDY interrupt fires at any moment of a loop pass, so conversions keep
arriving while the loop works through the ring. The sim garment's DRDY interrupts fire
whenever its firmware reads the clock (sim/clock.py), and the rig holds every pass up
(RIG_HOLD: before its first sample block, so the ring holds more than a block, and
again before the next, as long stages would) while four
channels stimulate. Every pulse's artefact (the sim's stimulator couples it into the input
of the same index, at the AFE index it reports to the rig) must still be blanked from the
filtered EMG: an anchor that paired a later conversion with an earlier time put every
window late by the hold and let the artefact through."""
from __future__ import annotations

import asyncio

import numpy as np

from garment.client import StreamConfig
from garment.protocol import wire
from rig import StimBench, heartbeat

MOD = wire.COUNTER_MOD
CHANNELS = 4
HOLD_US = 12000  # a flash write or an inference: 24 conversions at 2 kHz, more than a block
AMP_UA = 20000


def _d2(x: np.ndarray, lo: int, hi: int) -> float:
    """Largest |second difference| of x centred on samples lo..hi-1 (the artefact's
    alternating spike stands out of EMG and of a blank window's straight line)."""
    seg = x[lo - 1 : hi + 1].astype(np.int64)
    return float(np.abs(np.diff(seg, 2)).max())


async def test_artefacts_blanked_while_every_pass_is_held_up(bench: StimBench) -> None:
    rig = bench.need_rig()
    g = bench.g
    for ch in range(8):
        rig.feeder.inject_onset(ch, 0.0)  # quiet muscles: the artefacts stand out
    for ch in range(CHANNELS):
        await bench.calibrate(ch)
    # the shortest blank window (~4 ms with the pulse and the margins): a window late by
    # the hold (24 samples) misses the artefact whole
    await bench.set_limits(slew_ua_per_s=100000, blank_us=500)
    await g.set_config(StreamConfig(kind=wire.STREAM_FILTERED))
    rig.hold_passes(HOLD_US)
    mark = rig.mark()
    await g.start_stream()
    async with heartbeat(g):
        await g.arm()
        for ch in range(CHANNELS):
            await g.stim_test(ch, AMP_UA, 300, 20, 3000)
        await asyncio.get_running_loop().run_in_executor(None, rig.wait_afe, 3 * 2000 + 400)
        await g.disarm()
    await g.stop_stream()
    rig.hold_passes(0)
    blocks = g.take_buffered()
    assert blocks, "no samples"
    first = blocks[0].first_index
    filt = np.vstack([b.data for b in blocks])
    assert blocks[-1].first_index + len(blocks[-1].data) - first == len(filt), "samples were lost"
    pulses = [p for p in rig.pulses(mark) if p.amplitude_ua >= AMP_UA and p.channel < CHANNELS]
    uv_per_code = 4.5e6 / 24 / 2**23
    spike = AMP_UA * 100e-3 / uv_per_code  # 20 mA x ~100 nV/uA on the pulse's own input, in codes
    seen, leaked = 0, []
    for p in pulses:
        i = int((p.afe_index - first) % MOD)
        if not 400 <= i < len(filt) - 30:
            continue
        seen += 1
        x = filt[:, p.channel]
        peak = _d2(x, i - 1, i + 4)  # the artefact's samples (i..i+3) and one before
        before = _d2(x, i - 30, i - 4)  # the EMG just before the pulse (and the last M-wave's tail)
        if peak >= 0.1 * spike and peak > 3 * before:
            leaked.append((p.channel, p.afe_index, int(peak)))
    assert seen >= 4 * 30, (seen, len(pulses))
    assert not leaked, (f"{len(leaked)} of {seen} pulses' artefacts not blanked with every pass held up "
                        f"{HOLD_US} us (spike ~{spike:.0f}): {leaked[:5]}")
