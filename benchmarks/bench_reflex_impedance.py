"""The withdrawal reflex's impedance input, end to end on the MicroPython unix port: the
sim board's skin model (``sim/electrode_skin.py``) under the current-source model, the
supervisor's electrode check, the cycling policy and its reflex, a whole Device on the
fake board on a virtual clock (the harness of ``tests/firmware/mp``), pedalling at 60 rpm
with four channels in 90-degree windows. Measured: stop latency against the strength of an
electrodermal response on all four electrodes and of a breakdown under one; false stops
per minute of quiet riding (sweat drift and contact noise on, one electrode lifting at an
edge).

    nice -n 10 python benchmarks/bench_reflex_impedance.py [--quiet-minutes 5]

The UCI recordings carry no impedance: their false-stop rate is the EMG path's
(``bench_reflex.py``).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MP_TESTS = ROOT / "tests" / "firmware" / "mp"

SCRIPT = r"""
import sys
sys.path.insert(0, LIB)
sys.path.insert(0, MP)
exec(open(MP + "/test_reflex_impedance.py").read())

def latency(kind, mask, value, settle_ms=15000, max_ms=8000):
    b, d, stim, h, rig = _cycling_device([0, 1, 2, 3])
    t0 = S.ticks_us()
    _pedal(d, h, t0, settle_ms)
    if stim.control.policy.reflex.withdrawals:
        return "false"
    _skin(rig, kind, mask, value)
    t_ev = S.ticks_us()
    for _ in range(max_ms // 20):
        _pedal(d, h, t0, 20)
        if stim.control.policy.reflex.withdrawals:
            return S.mdiff(S.ticks_us(), t_ev) // 1000
    return -1

for v in (300, 400, 500, 600, 800, 1000):
    print("scr", v, latency(SKIN_SCR, 15, v))
for v in (600, 1000):
    print("scr1", v, latency(SKIN_SCR, 1, v))
for v in (400, 500, 600, 750, 900):
    print("breakdown", v, latency(SKIN_BREAKDOWN, 1, v))
b, d, stim, h, rig = _cycling_device([0, 1, 2, 3])
_skin(rig, SKIN_AREA, 4, 700)
t0 = S.ticks_us()
_pedal(d, h, t0, QUIET_MS)
print("quiet", QUIET_MS, stim.control.policy.reflex.withdrawals, b.stim.count)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quiet-minutes", type=float, default=5.0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "host"))
    from garment.paths import firmware_lib, micropython_exe

    src = f"LIB = {str(firmware_lib())!r}\nMP = {str(MP_TESTS)!r}\nQUIET_MS = {int(args.quiet_minutes * 60000)}\n" + SCRIPT
    out = subprocess.run([str(micropython_exe()), "-X", "heapsize=8m", "-c", src], capture_output=True, text=True,
                         cwd=str(MP_TESTS), check=False)
    if out.returncode:
        print(out.stdout + out.stderr, file=sys.stderr)
        return 1
    print("| discomfort sign | strength | stop latency after the event |")
    print("| --- | --- | --- |")
    for line in out.stdout.split("\n"):
        f = line.split()
        if f and f[0] in ("scr", "scr1", "breakdown"):
            what = {"scr": "electrodermal response, all 4 electrodes", "scr1": "electrodermal response, one electrode",
                    "breakdown": "interface breakdown, one electrode"}[f[0]]
            lat = "never (within 8 s)" if f[2] == "-1" else ("false stop before it" if f[2] == "false" else f"{f[2]} ms")
            print(f"| {what} | {int(f[1]) / 1000:.1f} | {lat} |")
        elif f and f[0] == "quiet":
            minutes = int(f[1]) / 60000
            print(f"\nquiet riding: {int(f[2])} false stops in {minutes:g} min ({int(f[2]) / minutes:.2f}/min), {f[3]} pulses")
    return 0


if __name__ == "__main__":
    sys.exit(main())
