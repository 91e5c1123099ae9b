"""Onset to the first stimulation pulse through the wire and the firmware: neural drive vs EMG amplitude.

The simulated garment (the real firmware on the unix port, its AFE model fed by the rig) gets
eight bipolar pairs of an HD phantom's grid; the person rests 3 s, then contracts to 25 %MVC in
0.3 s and holds 2 s.  Per trial (one phantom seed = one person, calibrated on an 8 s baseline
at 20 %MVC):

- neural drive: the host tracks the motor units on the 64 channels of the same phantom as the
  AFE converts them (25 ms batches), and streams the drive as T_ACTIVATION (signed, heartbeat-
  bound); the garment's policy, clip, slew and supervisor turn it into pulses;
- EMG amplitude: the garment's own decoder (MAV of the VL pair, 100 ms windows every 20 ms)
  and the same policy.

Both scaled to the calibration's hold (1.0) and the policy's deadband 0.1; latency = AFE index of
the first pulse the garment reports minus the AFE index of the drive's onset (see
garment.motorunits.drive_latency).  Pulses before the onset are false pulses.

    nice -n 10 .venv/bin/python benchmarks/bench_drive_latency.py [--trials 3] [--batch-ms 25] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys

from threadpoolctl import threadpool_limits

from garment.client import DeviceError
from garment.motorunits import drive_latency as dl
from garment.stimcontrol import armed


async def main(trials: int, batch_ms: float, as_json: bool) -> int:
    rows = []
    async with dl.drive_garment() as (g, feeder, feed):
        for seed in range(1, 1 + trials):
            p = await asyncio.to_thread(dl.make_person, seed)
            await dl.meet(g, feeder, feed, p)
            row = {"seed": seed, "units": len(p.cal.units)}
            for path, run in (("neural_drive", lambda: dl.neural_drive_trial(g, feeder, feed, p, batch_ms)),
                              ("emg_amplitude", lambda: dl.emg_amplitude_trial(g, feeder, feed, p))):
                try:
                    async with armed(g, heartbeat_s=0.1):
                        row[path] = (await run()).as_dict()
                except DeviceError as e:  # a refusal mid-trial (a fault): reported, not timed
                    st = await g.stim_state()
                    row[path] = {"path": path, "latency_ms": None, "false_pulses": 0, "error": str(e),
                                 "state_after": f"{st.state}/{st.fault}"}
                    if st.state == "fault":
                        await g.fault_reset()
            rows.append(row)
            if not as_json:
                print(json.dumps(row), file=sys.stderr, flush=True)
    summ = {}
    for k in ("neural_drive", "emg_amplitude"):
        lat = [r[k]["latency_ms"] for r in rows if r[k]["latency_ms"] is not None]
        summ[k] = {"latency_ms_median": statistics.median(lat) if lat else None,
                   "latency_ms_min": min(lat, default=None), "latency_ms_max": max(lat, default=None),
                   "missed": len(rows) - len(lat), "false_pulses": sum(r[k]["false_pulses"] for r in rows),
                   "faults": [r[k]["state_after"] for r in rows if not r[k]["state_after"].endswith("/none")]}
    out = {"trials": trials, "batch_ms": batch_ms, **summ, "rows": rows}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--batch-ms", type=float, default=25.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with threadpool_limits(1):
        sys.exit(asyncio.run(main(a.trials, a.batch_ms, a.json)))
