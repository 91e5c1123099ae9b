"""Behaviour 5: pulses are biphasic and charge-balanced.

The stimulator API offers nothing else (``pulse(ch, amplitude, width, interphase)``: two
equal and opposite phases); what the suite can see is every pulse the garment reports
(``R_PULSES``: amplitude per phase, phase width, interphase gap) and, on the sim, every
pulse the stimulator delivered (``RIG_PULSE``). Each delivered pulse must be reported,
with a non-zero interphase gap and the same amplitude and width for both phases (the
record has one of each: the charge of phase 1 equals that of phase 2 by construction).
"""
from __future__ import annotations

from rig import StimBench, heartbeat, match_pulses


async def test_every_pulse_is_biphasic_reported_and_delivered_as_reported(bench: StimBench) -> None:
    g = bench.g
    # a short blank window: 50 and 60 Hz leave EMG to read between pulses (behaviour 9)
    await bench.set_limits(slew_ua_per_s=200000, blank_us=5000)
    await bench.calibrate(0)
    await bench.calibrate(1, width_us=200, freq_hz=50)
    rig_mark = bench.rig.mark() if bench.rig else None
    async with heartbeat(g):
        await g.arm()
        await g.stim_test(0, 15000, 300, 40, 1500)
        await g.stim_test(1, 12000, 150, 60, 1500)
        await bench.wait_pulses(60, channel=1, timeout=10)
        await g.disarm()
    reported = [p.pulse for p in bench.log.since()]
    assert {p.channel for p in reported} == {0, 1}
    for p in reported:
        assert p.interphase_us > 0, p
        assert p.width_us == (300 if p.channel == 0 else 150), p
        assert 0 < p.amplitude_ua <= (15000 if p.channel == 0 else 12000), p
    if bench.rig is not None:
        # the rig's pulse records travel on their own socket: wait until as many as were
        # reported are in (a pulse that never came still fails below, after the timeout)
        bench.rig.feeder.wait_pulses(lambda ps: len(ps) - rig_mark >= len(reported), 5.0)
        delivered = bench.rig.pulses(rig_mark)
        unreported, unknown = match_pulses(reported, delivered)
        assert unknown == [], f"{len(unknown)} delivered pulses the garment never reported: {unknown[:3]}"
        assert unreported == [], f"{len(unreported)} reported pulses the stimulator never delivered: {unreported[:3]}"
