# A thigh IMU for the sim board: a model of ST's LSM6DSO 6-axis accelerometer + gyroscope
# (datasheet DS12140 rev 5, high-performance mode), strapped to the thigh above the knee,
# its x axis along the thigh (hip -> knee), z normal to it in the sagittal plane, y the
# pitch axis. The rig feeds the ideal motion at the output data rate (RIG_IMU: the pitch
# rate and the specific force along x and z, as the rider's thigh kinematics make them);
# the model adds what the part does to it:
# - output data rate 104 Hz on the board's clock (ODR tolerance not modelled), one sample
#   per period, a sample the rig did not feed repeats the last motion (a host behind);
# - gyro: full scale +-2000 dps at 70 mdps/LSB, zero-rate level (bias) within +-1 dps,
#   rate noise density 3.8 mdps/sqrt(Hz); accelerometer: +-4 g at 0.122 mg/LSB, zero-g
#   offset within +-20 mg, noise density 70 ug/sqrt(Hz) (at ODR 104 Hz the noise
#   bandwidth is ODR/2);
# - 16-bit two's complement outputs that saturate at full scale;
# - a FIFO of 3 kB (the part's): 256 gyro+accel sets of 12 bytes; when full, the newest
#   sets are lost and counted (FIFO_OVR).
# Noise comes from a seeded xorshift32 (deterministic rides); its normal deviates are sums
# of four uniforms (Irwin-Hall), enough for sensor noise.
from array import array

from micropython import const

ODR_HZ = const(104)
GYRO_MDPS_PER_LSB = const(70)
ACC_UG_PER_LSB = const(122)
FIFO_SETS = const(256)
_IN_CAP = const(512)  # ideal samples the rig may queue ahead
# per-sample noise rms at ODR 104 Hz: density * sqrt(52 Hz)
GYRO_NOISE_MDPS = const(27)  # 3.8 mdps/sqrt(Hz) * 7.2
ACC_NOISE_UG = const(505)  # 70 ug/sqrt(Hz) * 7.2


class FakeLSM6DSO:
    """The thigh IMU (see the module comment). ``clock_us``: the board's ticks_us."""

    def __init__(self, clock_us, seed: int = 1, gyro_bias_mdps: int = 600, acc_bias_ug=(12000, -8000)):
        if not -1000 <= gyro_bias_mdps <= 1000:
            raise ValueError("LSM6DSO zero-rate level is within +-1 dps")
        self._clock = clock_us
        self._rng = array("I", [seed & 0xFFFFFFFF or 1])
        self.gyro_bias = gyro_bias_mdps
        self.acc_bias_x, self.acc_bias_z = acc_bias_ug
        # ideal input: pitch rate mdps, fx ug, fz ug per sample
        self._in = array("i", bytes(4 * 3 * _IN_CAP))
        self._in_r = 0
        self._in_n = 0
        self._last = array("i", [0, 0, 1000000])
        # FIFO of raw sets: gyro y, acc x, acc z (int16 in int32 slots)
        self.fifo = array("i", bytes(4 * 3 * FIFO_SETS))
        self._f_r = 0
        self._f_n = 0
        self.overruns = 0
        self.produced = 0
        self.fed = 0
        self._period_us = 1000000 // ODR_HZ
        self._t = clock_us()
        self.running = False

    def start(self) -> None:
        """Power the part up (ODR on): samples from the next period on."""
        self._t = self._clock()
        self.running = True

    # ---- the rig side ------------------------------------------------------------
    def feed(self, rate_mdps: int, fx_ug: int, fz_ug: int) -> bool:
        """One ideal motion sample (the next ODR period's); False if the queue is full."""
        if self._in_n >= _IN_CAP:
            return False
        w = (self._in_r + self._in_n) % _IN_CAP * 3
        self._in[w] = rate_mdps
        self._in[w + 1] = fx_ug
        self._in[w + 2] = fz_ug
        self._in_n += 1
        self.fed += 1
        return True

    def queued(self) -> int:
        return self._in_n

    # ---- the part ----------------------------------------------------------------
    def _uniform(self) -> int:
        # xorshift32, 0..65535
        x = self._rng[0]
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng[0] = x
        return x >> 16

    def _normal(self, rms: int) -> int:
        # Irwin-Hall of 4 uniforms: mean 2*65535, sd 65535/sqrt(3)
        s = self._uniform() + self._uniform() + self._uniform() + self._uniform() - 131070
        return s * rms * 1732 // (65535 * 1000)

    @staticmethod
    def _lsb(v: int, per_lsb: int) -> int:
        q = (v + (per_lsb >> 1)) // per_lsb if v >= 0 else -((-v + (per_lsb >> 1)) // per_lsb)
        if q > 32767:
            return 32767
        if q < -32768:
            return -32768
        return q

    def _convert(self) -> None:
        if self._in_n:
            r = self._in_r * 3
            for k in range(3):
                self._last[k] = self._in[r + k]
            self._in_r = (self._in_r + 1) % _IN_CAP
            self._in_n -= 1
        g = self._last[0] + self.gyro_bias + self._normal(GYRO_NOISE_MDPS)
        ax = self._last[1] + self.acc_bias_x + self._normal(ACC_NOISE_UG)
        az = self._last[2] + self.acc_bias_z + self._normal(ACC_NOISE_UG)
        self.produced += 1
        if self._f_n >= FIFO_SETS:
            self.overruns += 1
            return
        w = (self._f_r + self._f_n) % FIFO_SETS * 3
        self.fifo[w] = self._lsb(g, GYRO_MDPS_PER_LSB)
        self.fifo[w + 1] = self._lsb(ax, ACC_UG_PER_LSB)
        self.fifo[w + 2] = self._lsb(az, ACC_UG_PER_LSB)
        self._f_n += 1

    def _advance(self) -> None:
        if not self.running:
            return
        now = self._clock()
        p = self._period_us
        while ((now - self._t + (1 << 29)) & 0x3FFFFFFF) - (1 << 29) >= p:
            self._t = (self._t + p) & 0x3FFFFFFF
            self._convert()

    def read(self, out) -> int:
        """Drain the FIFO into ``out`` (array of int, 3 per set: gyro y, acc x, acc z in
        LSB); returns the number of sets. Allocation-free."""
        self._advance()
        n = self._f_n
        cap = len(out) // 3
        if n > cap:
            n = cap
        r = self._f_r
        for i in range(n):
            s = (r + i) % FIFO_SETS * 3
            out[3 * i] = self.fifo[s]
            out[3 * i + 1] = self.fifo[s + 1]
            out[3 * i + 2] = self.fifo[s + 2]
        self._f_r = (r + n) % FIFO_SETS
        self._f_n -= n
        return n
