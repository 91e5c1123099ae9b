# Runs the sim board's thigh IMU model and the firmware's phase estimator on the unix
# port over ideal motion read from a file, on a clock stepped one output period per
# sample; prints one estimated crank angle (cdeg, -1: no phase) per sample, and what the
# estimator allocated over all its passes.
# usage: micropython imu_phase_driver.py LIB MOTION_FILE MAX_CDEG MIN_CDEG
import gc
import sys

sys.path.insert(0, sys.argv[1])
from array import array  # noqa: E402

from garmentfw.sim.imu_model import ODR_HZ, FakeLSM6DSO  # noqa: E402
from garmentfw.thigh_phase import ThighPhase  # noqa: E402

t = array("i", [0])
imu = FakeLSM6DSO(lambda: t[0], seed=7)
imu.start()
est = ThighPhase(ODR_HZ)
est.set_peaks(int(sys.argv[3]), int(sys.argv[4]))
buf = array("i", bytes(4 * 3 * 32))
period = 1000000 // ODR_HZ
out = []
alloc = 0
gc.disable()  # mem_alloc differences then count every allocation
with open(sys.argv[2]) as f:
    rows = [tuple(int(v) for v in line.split()) for line in f]
for i, (r, fx, fz) in enumerate(rows):
    imu.feed(r, fx, fz)
    t[0] = (t[0] + period) & 0x3FFFFFFF
    n = imu.read(buf)
    before = gc.mem_alloc()
    est.process(buf, n)
    alloc += gc.mem_alloc() - before  # every pass, peaks included
    out.append(est.angle if est.valid else -1)
print(" ".join(str(v) for v in out))
print("alloc", alloc, "peaks", est.peaks, "crpm", est.crpm)
