"""Review finding M8: acquisition keeps up while pulses run.

The ADS1299 holds one conversion; the garment captures each on its DRDY edge into a
ring (garmentfw/capture.py; the sim board's chip model holds one conversion too and
raises the DRDY interrupt), so the stimulation engine's bursts and the loop's long passes
lose nothing. Proof from the AFE's own clock: every sample block's counter follows the
last one's, with nothing missing, while four channels stimulate at 30 Hz.
"""
from __future__ import annotations

import time

from garment.client import StreamConfig
from rig import StimBench, heartbeat

STIM_CHANNELS = 4
FREQ_HZ = 30
PULSES = 90  # per channel: 3 s of 30 Hz trains while the stream runs
TIMEOUT_S = 30.0  # a loaded host runs the simulated garment slower, never lossier


async def test_stream_8ch_2khz_while_four_channels_stimulate_at_30hz_loses_nothing(bench: StimBench) -> None:
    g = bench.g
    await g.set_config(StreamConfig(fs=2000, channels=8))
    for ch in range(STIM_CHANNELS):
        await bench.calibrate(ch)
    before = await g.status()
    async with heartbeat(g):
        await g.arm()
        await g.start_stream()
        first = (await g.next_block(timeout=3)).first_index
        mark = len(bench.log.since())
        for ch in range(STIM_CHANNELS):
            await g.stim_test(ch, 12000, 300, FREQ_HZ, 20000)
        t0 = time.monotonic()
        expected = None
        # until every channel has pulsed PULSES times (counted from its R_PULSES reports)
        while min(len(bench.log.since(mark, channel=ch)) for ch in range(STIM_CHANNELS)) < PULSES:
            assert time.monotonic() - t0 < TIMEOUT_S, [len(bench.log.since(mark, channel=c)) for c in range(4)]
            block = await g.next_block(timeout=3)
            if expected is not None:
                assert block.first_index == expected, f"sample {expected} to {block.first_index - 1} lost"
            expected = block.first_index + len(block.data)
        await g.stop_stream()
        await g.disarm()
    st = g.stats
    assert st.dropped == 0 and st.gaps == 0, st
    assert st.forged_unsolicited == 0, st  # every pulse report carried the session's tag
    after = await g.status()
    assert after.afe_overruns == before.afe_overruns, (before, after)  # the garment lost none either
    # the counter is the AFE's: at least the samples 2 kHz gives in the trains' 3 s
    assert expected is not None and expected - first > 2000 * PULSES / FREQ_HZ * 0.9
