# The thigh IMU as the crank sensor: every loop pass drains the IMU's FIFO; when the
# cycling policy's crank_source is the thigh IMU (1), the phase estimator (thigh_phase.py)
# turns the pitch rate into the crank angle and cadence the policy reads, as a crank
# sensor's T_CRANK would. No phase (before two half-cycles, or a thigh that stopped):
# no reading, and the policy's own crank timeout turns the output off.
# Allocation-free per pass (preallocated FIFO buffer, integer estimator).
from array import array

from micropython import const

from garmentfw.thigh_phase import ThighPhase

_SETS = const(32)  # drained per pass at most (0.3 s at 104 Hz)


class ImuCrank:
    def __init__(self, imu, control, odr_hz: int = 104):
        self.imu = imu
        self.control = control
        self.buf = array("i", bytes(4 * 3 * _SETS))
        self.est = ThighPhase(odr_hz)
        self.sets = 0

    def handlers(self):
        return {}

    def on_disconnect(self) -> None:
        pass

    def on_config(self) -> None:
        pass

    def tick(self, now_ms) -> bool:
        n = self.imu.read(self.buf)
        if not n:
            return False
        self.sets += n
        pol = self.control.policy
        if pol is None or pol.crank_source != 1:
            return True
        est = self.est
        if est.max_cdeg != pol.imu_max_cdeg or est.min_cdeg != pol.imu_min_cdeg:
            est.set_peaks(pol.imu_max_cdeg, pol.imu_min_cdeg)
        est.process(self.buf, n)
        if est.valid:
            self.control.crank_sensor(est.angle, est.crpm)
        return True
