# TI ADS1299 (8-channel, 24-bit biopotential AFE) driver.
#
# Datasheet: TI SBAS499C (ADS1299/-4/-6, rev. Jan 2017). Behaviours relied on:
# - Power-up: wait tPOR = 2^18 tCLK (128 ms at fCLK = 2.048 MHz) after supplies and
#   clock are valid before resetting; we wait 150 ms to cover oscillator tolerance.
# - Reset: RESET pin low for >= tRST = 2 tCLK, or the RESET opcode; the chip then needs
#   18 tCLK (8.8 us) to reload register defaults before it takes commands.
# - The chip wakes up (and resets into) RDATAC mode, where RREG/WREG are ignored:
#   SDATAC must precede any register access. Register reads are verified, so a driver
#   bug or a bad SPI link shows up as an exception, never as a silently wrong setup.
# - Multi-byte commands (RREG/WREG + count + data) need tSDECODE = 4 tCLK (1.96 us)
#   between bytes, and CS must stay low for the whole command: we send config bytes
#   one at a time 2 us apart (config path only, never the sample path).
# - Opcodes: WAKEUP 02, STANDBY 04, RESET 06, START 08, STOP 0A, RDATAC 10, SDATAC 11,
#   RDATA 12, RREG 20|r + (n-1), WREG 40|r + (n-1).
# - ID (00h, read-only): REV_ID[7:5], bit 4 = 1, DEV_ID[3:2] = 11, NU_CH[1:0]
#   (00 = 4 ch, 01 = 6 ch, 10 = 8 ch): the 8-channel ADS1299 reads x1E in bits 4:0.
# - CONFIG1 (01h): bit 7 reserved 1, bit 6 DAISY_EN' (0 = daisy-chain), bit 5 CLK_EN,
#   bits 4:3 reserved 10, DR[2:0]: 000 16k, 001 8k, 010 4k, 011 2k, 100 1k, 101 500,
#   110 250 SPS (fCLK = 2.048 MHz). Writing a new CONFIG1 resets the digital filter.
# - CONFIG2 (02h): bits 7:5 reserved 110, INT_CAL (bit 4) internal test signal,
#   bit 3 reserved 0, CAL_AMP (bit 2), CAL_FREQ[1:0] (00 = fCLK/2^21 ~ 1 Hz).
# - CONFIG3 (03h): PD_REFBUF' (bit 7, 1 = internal 4.5 V reference buffer on), bits 6:5
#   reserved 11, BIAS_MEAS, BIASREF_INT (bit 3), PD_BIAS' (bit 2), BIAS_LOFF_SENS,
#   BIAS_STAT (bit 0, read-only). The internal reference needs ~150 ms to start up.
# - LOFF (04h): COMP_TH[7:5], bit 4 reserved 0, ILEAD_OFF[3:2], FLEAD_OFF[1:0]
#   (00 = DC lead-off). CONFIG4 (17h) PD_LOFF_COMP' (bit 1) powers the comparators.
#   LOFF_STATP/N bits are only valid where LOFF_SENSP/N are set.
# - CHnSET (05h-0Ch): PD (bit 7), GAIN[6:4] (1,2,4,6,8,12,24), SRB2 (bit 3), MUX[2:0]
#   (000 normal electrode, 001 input shorted, 101 test signal). Unused channels are
#   powered down with their inputs shorted, as the datasheet recommends.
# - MISC1 (15h) bit 5 SRB1 ties every channel's N input to SRB1 (referential montage).
# - Data: START pin high or START opcode (hold the pin low then) runs conversions; DRDY
#   falls when one is ready and rises on the first SCLK of its read. A frame is
#   216 bits = 27 bytes: status (1100 + LOFF_STATP + LOFF_STATN + GPIO[7:4]) then
#   8 x 24-bit two's complement, MSB first; powered-down channels read 0. DIN stays
#   low while reading. The chip keeps one conversion: an unread one is overwritten.
# - LSB = 2 VREF / gain / 2^24 = VREF / (gain * 2^23), VREF = 4.5 V (internal);
#   codes saturate at 0x7FFFFF / 0x800000.
# - Clock: 1/fs = 128 * 2^DR tCLK, so the rates above need fCLK = 2.048 MHz (internal
#   oscillator). The datasheet allows an external CLK with tCLK 444..666 ns (1.50..2.25
#   MHz): 2.097152 MHz (tCLK 476.8 ns, inside) gives 256..16384 SPS, so 2048 SPS is
#   DR = 011 on that clock. tSDECODE (4 tCLK) is then 1.91 us, still under our 2 us gap.
# - Daisy chain (several chips, one CS; HD garment): CONFIG1 DAISY_EN' = 0 (bit 6 clear,
#   as _CONFIG1_BASE has it), CS/SCLK/DIN/START shared, DOUT of chip k+1 into DAISY_IN of
#   chip k, chip 1's DOUT to the MCU. A frame read then clocks 216 bits per chip: chip 1's
#   status + 8 channels, then chip 2's from SCLK 217 on, and so on; past the last chip
#   DAISY_IN (tied low) reads 0. With a shared DIN every WREG programs all chips alike and
#   RREG reads chip 1 only, so the other chips are checked through their data: after the
#   configuration one conversion is read and every chip must show the 1100 status sync,
#   and the chip after the last must read nothing (a longer chain would shift every
#   channel). The datasheet requires an external clock for a chain with shared DIN.
#   SCLK needed: fs * n_chips * 216 bits (2048 SPS x 8 chips: 3.54 MHz; 4 MHz works).
import time

import micropython
from micropython import const

# Opcodes.
WAKEUP = const(0x02)
STANDBY = const(0x04)
RESET = const(0x06)
START = const(0x08)
STOP = const(0x0A)
RDATAC = const(0x10)
SDATAC = const(0x11)
RDATA = const(0x12)
RREG = const(0x20)
WREG = const(0x40)

# Register addresses.
REG_ID = const(0x00)
REG_CONFIG1 = const(0x01)
REG_CONFIG2 = const(0x02)
REG_CONFIG3 = const(0x03)
REG_LOFF = const(0x04)
REG_CH1SET = const(0x05)
REG_BIAS_SENSP = const(0x0D)
REG_BIAS_SENSN = const(0x0E)
REG_LOFF_SENSP = const(0x0F)
REG_LOFF_SENSN = const(0x10)
REG_LOFF_FLIP = const(0x11)
REG_LOFF_STATP = const(0x12)
REG_LOFF_STATN = const(0x13)
REG_GPIO = const(0x14)
REG_MISC1 = const(0x15)
REG_MISC2 = const(0x16)
REG_CONFIG4 = const(0x17)
NREG = const(0x18)

NCH = const(8)
FRAME_BYTES = const(27)
VREF_UV = const(4_500_000)

ID_MASK = const(0x1F)  # REV_ID (bits 7:5) varies between silicon revisions
ID_ADS1299 = const(0x1E)

# Register values (see the header for the bit maps).
_CONFIG1_BASE = const(0x90)  # reserved 1, daisy-chain (single device: DAISY_IN unused), CLK out off, 10
_CONFIG2_OFF = const(0xC0)  # test signal from outside (i.e. none)
_CONFIG2_TEST = const(0xD0)  # internal square test signal, 1x amplitude, fCLK/2^21
_CONFIG3_REF = const(0xE0)  # internal reference buffer on
_CONFIG3_BIAS = const(0x0C)  # BIASREF internal (AVDD+AVSS)/2, bias buffer on
_LOFF_DC = const(0x00)  # DC lead-off, 6 nA, comparator threshold 95 % / 5 %
_CONFIG4_LOFF = const(0x02)  # lead-off comparators on, continuous conversions
_MISC1_SRB1 = const(0x20)
_CH_OFF = const(0x81)  # powered down, inputs shorted
_MUX_NORMAL = const(0x00)
_MUX_TEST = const(0x05)

# Timings, in microseconds (fCLK = 2.048 MHz, tCLK = 488 ns).
T_POR_US = const(150_000)  # >= 2^18 tCLK = 128 ms, plus internal-oscillator tolerance
T_RST_US = const(4)  # RESET low >= 2 tCLK
T_RESET_DONE_US = const(20)  # 18 tCLK to reload registers
T_DECODE_US = const(2)  # 4 tCLK between bytes of a multi-byte command
T_REF_SETTLE_US = const(150_000)  # internal reference start-up

FCLK_HZ = const(2_048_000)  # internal oscillator
FCLK_HD_HZ = const(2_097_152)  # external clock of the HD garment: 256 * 2^k SPS
MAX_CHIPS = const(8)
FS_ALLOWED = (250, 500, 1000, 2000, 4000, 8000, 16000)
_DR_CODE = (6, 5, 4, 3, 2, 1, 0)  # DR[2:0] for FS_ALLOWED
GAINS = (1, 2, 4, 6, 8, 12, 24)
# LSB in femtovolts (nV x 1e6), rounded: VREF / (gain * 2^23) = 536441802.98 fV / gain.
# fV rather than pV: a rounded pV value is off by up to 3 codes at full scale.
_LSB_FV = (536441803, 268220901, 134110451, 89406967, 67055225, 44703484, 22351742)

REG_NAMES = (
    "ID", "CONFIG1", "CONFIG2", "CONFIG3", "LOFF",
    "CH1SET", "CH2SET", "CH3SET", "CH4SET", "CH5SET", "CH6SET", "CH7SET", "CH8SET",
    "BIAS_SENSP", "BIAS_SENSN", "LOFF_SENSP", "LOFF_SENSN", "LOFF_FLIP",
    "LOFF_STATP", "LOFF_STATN", "GPIO", "MISC1", "MISC2", "CONFIG4",
)


class ADS1299Error(RuntimeError):
    """The chip is absent, is not an ADS1299, or did not take its configuration."""


def gain_code(gain: int) -> int:
    """GAIN[2:0] field value for a PGA gain; ValueError lists the allowed gains."""
    for i in range(len(GAINS)):
        if GAINS[i] == gain:
            return i
    raise ValueError("gain %r not supported; allowed: %r" % (gain, GAINS))


def rates(fclk_hz: int = FCLK_HZ) -> tuple:
    """The data rates (SPS, slowest first) the chip gives on a master clock of fclk_hz."""
    return tuple(fclk_hz // 128 >> dr for dr in _DR_CODE)


def dr_code(fs: int, fclk_hz: int = FCLK_HZ) -> int:
    """CONFIG1 DR[2:0] for a data rate in SPS; ValueError lists the allowed rates."""
    allowed = FS_ALLOWED if fclk_hz == FCLK_HZ else rates(fclk_hz)
    for i in range(len(allowed)):
        if allowed[i] == fs:
            return _DR_CODE[i]
    raise ValueError("fs %r not supported at fCLK %d Hz; allowed: %r" % (fs, fclk_hz, allowed))


def lsb_fv(gain: int) -> int:
    """Size of one code at the electrodes in femtovolts (nV per LSB x 1e6), rounded.

    Exact value: 4.5 V / (gain * 2^23); the rounding error is < 2.3e-8 relative, i.e.
    under 0.2 LSB at full scale. Fits 30 bits (a small int everywhere). The host
    converts with ``nV = code * lsb_fv / 1e6``.
    """
    return _LSB_FV[gain_code(gain)]


@micropython.viper
def unpack(frame, out, offset: int, nch: int):
    """24-bit big-endian two's complement channels of a frame -> out[offset:offset+nch] (int32)."""
    f = ptr8(frame)
    o = ptr32(out)
    i = 0
    b = 3
    while i < nch:
        v = (f[b] << 16) | (f[b + 1] << 8) | f[b + 2]
        if v & 0x800000:
            v -= 0x1000000  # sign-extend without relying on the machine word size
        o[offset + i] = v
        i += 1
        b += 3


@micropython.viper
def lead_off(frame) -> int:
    """Mask of channels (bit 0 = CH1) whose P or N electrode is off, from the status bytes."""
    f = ptr8(frame)
    p = ((f[0] & 0x0F) << 4) | (f[1] >> 4)
    n = ((f[1] & 0x0F) << 4) | (f[2] >> 4)
    return p | n


@micropython.viper
def lead_off_pn(frame) -> int:
    """(LOFF_STATP << 8) | LOFF_STATN from a frame's status bytes."""
    f = ptr8(frame)
    return (((f[0] & 0x0F) << 12) | (f[1] << 4) | (f[2] >> 4)) & 0xFFFF


@micropython.viper
def status_ok(frame) -> bool:
    """True when the status word starts with the 1100 sync pattern (catches SPI slips)."""
    return (ptr8(frame)[0] & 0xF0) == 0xC0


@micropython.viper
def unpack_chain(frame, out, offset: int, n_chips: int, per_chip: int):
    """Channels 1..per_chip of each of n_chips daisy-chained frames (27 bytes each) ->
    out[offset:offset + n_chips * per_chip] (int32), chip-major."""
    f = ptr8(frame)
    o = ptr32(out)
    j = offset
    k = 0
    while k < n_chips:
        b = k * 27 + 3
        i = 0
        while i < per_chip:
            v = (f[b] << 16) | (f[b + 1] << 8) | f[b + 2]
            if v & 0x800000:
                v -= 0x1000000
            o[j] = v
            j += 1
            i += 1
            b += 3
        k += 1


@micropython.viper
def chain_ok(frame, n_chips: int) -> bool:
    """Every chip's status word of a chained frame starts with the 1100 sync pattern."""
    f = ptr8(frame)
    k = 0
    while k < n_chips:
        if (f[k * 27] & 0xF0) != 0xC0:
            return False
        k += 1
    return True


@micropython.viper
def chain_lead_off(frame, n_chips: int) -> int:
    """Bit k set: an electrode (P or N) of chip k is off, from the chips' status words."""
    f = ptr8(frame)
    m = 0
    k = 0
    while k < n_chips:
        b = k * 27
        if (f[b] & 0x0F) | f[b + 1] | (f[b + 2] & 0xF0):
            m |= 1 << k
        k += 1
    return m


class ADS1299:
    """One ADS1299 on an SPI bus (mode 1, <= 4 MHz so data bytes need no gaps).

    ``spi`` is machine.SPI-like (write, readinto, write_readinto); ``cs``, ``drdy``,
    ``reset``, ``start``, ``pwdn`` are machine.Pin-like. Without a ``reset`` / ``start``
    pin the RESET / START / STOP opcodes are used (tie START low then).
    ``sleep_us`` is injectable so tests can run the datasheet waits on a virtual clock.
    ``n_chips`` > 1: that many chips in daisy-chain mode behind the one CS (see the header);
    channels are then counted over the chain, chip-major. ``fclk_hz``: the chips' clock.
    """

    # Hot-path helpers, reachable from the instance without binding.
    lead_off_pn = staticmethod(lead_off_pn)
    status_ok = staticmethod(status_ok)

    def __init__(self, spi, cs, drdy, reset=None, start=None, pwdn=None, *, sleep_us=None,
                 n_chips: int = 1, fclk_hz: int = FCLK_HZ):
        if not 1 <= n_chips <= MAX_CHIPS:
            raise ValueError("n_chips %r not in 1..%d" % (n_chips, MAX_CHIPS))
        self.n_chips = n_chips
        self.fclk_hz = fclk_hz
        self.fs_allowed = FS_ALLOWED if fclk_hz == FCLK_HZ else rates(fclk_hz)
        self.frame_bytes = FRAME_BYTES * n_chips
        self.max_channels = NCH * n_chips
        self.per_chip = 0  # active channels per chip (chain: the same on every chip)
        self._spi = spi
        self._cs = cs
        self._drdy = drdy
        self._rst = reset
        self._start = start
        self._pwdn = pwdn
        self._sleep_us = sleep_us or time.sleep_us
        self._op = bytearray(1)  # opcode / command bytes
        self._b1 = bytearray(1)  # single-register data
        self._want = bytearray(NREG)
        self._got = bytearray(NREG)
        self._ref_on = False
        self.chip_id = 0
        self.fs = 0
        self.n_ch = 0
        self.mask = 0  # active channels, bit 0 = CH1
        self.gains = bytearray(NCH)  # per channel, 0 = powered down
        self.running = False
        cs.on()
        if start is not None:
            start.off()

    # -- low level -------------------------------------------------------------

    def command(self, op: int) -> None:
        """Send one single-byte opcode (CS framed, decode time respected)."""
        b = self._op
        b[0] = op
        self._cs.off()
        self._spi.write(b)
        self._sleep_us(T_DECODE_US)
        self._cs.on()

    def _byte(self, v: int) -> None:
        b = self._op
        b[0] = v
        self._spi.write(b)
        self._sleep_us(T_DECODE_US)

    def write_regs(self, addr: int, data) -> None:
        """WREG: data[i] -> register addr+i. Needs SDATAC mode (the chip ignores it in RDATAC)."""
        self._cs.off()
        self._byte(WREG | addr)
        self._byte(len(data) - 1)
        for v in data:
            self._byte(v)
        self._cs.on()

    def read_regs(self, addr: int, buf) -> None:
        """RREG: registers addr.. into buf (len(buf) of them). Needs SDATAC mode."""
        self._cs.off()
        self._byte(RREG | addr)
        self._byte(len(buf) - 1)
        self._spi.readinto(buf, 0)
        self._sleep_us(T_DECODE_US)
        self._cs.on()

    def read_reg(self, addr: int) -> int:
        b = self._b1
        self.read_regs(addr, b)
        return b[0]

    def write_reg(self, addr: int, value: int) -> None:
        self._b1[0] = value
        self.write_regs(addr, self._b1)

    # -- bring-up ----------------------------------------------------------------

    def init(self, power_up: bool = True) -> int:
        """Power-up + reset + ID check. Returns the ID register; ADS1299Error if not an ADS1299."""
        if self._pwdn is not None:
            self._pwdn.on()
        if self._rst is not None:
            self._rst.on()
        if power_up:
            self._sleep_us(T_POR_US)
        self.reset()
        cid = self.read_reg(REG_ID)
        self.chip_id = cid
        if cid & ID_MASK != ID_ADS1299:
            if cid == 0x00 or cid == 0xFF:
                why = "no register data (MISO stuck at 0x%02X): check power, clock, CS, or a missing SDATAC" % cid
            elif cid & 0x1C == 0x1C:
                why = "ADS1299-%d: only the 8-channel ADS1299 is supported" % (4 + 2 * (cid & 3))
            else:
                why = "not an ADS1299"
            raise ADS1299Error("AFE ID 0x%02X, expected 0x%02X in bits 4:0 (%s)" % (cid, ID_ADS1299, why))
        return cid

    def reset(self) -> None:
        """Reset to register defaults (pin pulse or opcode), wait 18 tCLK, leave RDATAC."""
        self.running = False
        if self._start is not None:
            self._start.off()
        if self._rst is not None:
            self._rst.off()
            self._sleep_us(T_RST_US)
            self._rst.on()
        else:
            self.command(RESET)
        self._sleep_us(T_RESET_DONE_US)
        self.command(SDATAC)  # the chip comes out of reset in RDATAC
        self._ref_on = False  # reset powers the reference buffer down
        self.fs = 0

    # -- configuration -----------------------------------------------------------

    def configure(self, fs: int, n_ch: int = NCH, gain=24, *, mask: int = -1,
                  lead_off: bool = True, bias: bool = True, srb1: bool = False,
                  test_signal: bool = False) -> None:
        """Program the chip for streaming and verify every register by reading it back.

        fs: data rate (one of FS_ALLOWED); n_ch: channels CH1..n_ch are active, or pass
        ``mask`` (bit 0 = CH1); gain: one PGA gain for all, or a sequence of 8.
        lead_off: DC lead-off detection on the active channels' P and N electrodes;
        bias: bias drive derived from the active electrodes; srb1: referential
        montage (N inputs on SRB1); test_signal: active channels read the internal
        1.875 mV x gain, ~1 Hz square wave (self-test). Stops conversions; call start().
        A daisy chain takes n_ch = n_chips x m (CH1..m on every chip: one shared DIN
        programs them alike) and checks every chip's data after the registers.
        """
        dr = dr_code(fs, self.fclk_hz)
        nc = self.n_chips
        if nc > 1:
            if mask >= 0:
                raise ValueError("a daisy chain takes n_ch, not a mask (every chip gets the same channels)")
            if not 1 <= n_ch <= NCH * nc or n_ch % nc:
                raise ValueError("n_ch %r: a chain of %d chips takes %d x 1..8 channels" % (n_ch, nc, nc))
            mask = (1 << (n_ch // nc)) - 1
        elif mask < 0:
            if not 1 <= n_ch <= NCH:
                raise ValueError("n_ch %r not in 1..%d" % (n_ch, NCH))
            mask = (1 << n_ch) - 1
        elif not 0 < mask < 0x100:
            raise ValueError("channel mask 0x%x not in 0x01..0xFF" % mask)
        if isinstance(gain, int):
            gain = (gain,) * NCH
        if len(gain) != NCH:
            raise ValueError("need %d gains" % NCH)
        gcode = bytearray(NCH)
        for i in range(NCH):
            gcode[i] = gain_code(gain[i])

        self.stop()
        w = self._want
        w[REG_CONFIG1] = _CONFIG1_BASE | dr
        w[REG_CONFIG2] = _CONFIG2_TEST if test_signal else _CONFIG2_OFF
        w[REG_CONFIG3] = _CONFIG3_REF | (_CONFIG3_BIAS if bias else 0)
        w[REG_LOFF] = _LOFF_DC
        mux = _MUX_TEST if test_signal else _MUX_NORMAL
        for i in range(NCH):
            w[REG_CH1SET + i] = (gcode[i] << 4) | mux if mask >> i & 1 else _CH_OFF
        w[REG_BIAS_SENSP] = mask if bias else 0
        w[REG_BIAS_SENSN] = 0 if (srb1 or not bias) else mask  # N inputs share SRB1 in referential mode
        w[REG_LOFF_SENSP] = mask if lead_off else 0
        w[REG_LOFF_SENSN] = mask if lead_off else 0
        w[REG_LOFF_FLIP] = 0
        w[REG_MISC1] = _MISC1_SRB1 if srb1 else 0
        w[REG_MISC2] = 0
        w[REG_CONFIG4] = _CONFIG4_LOFF if lead_off else 0

        # Reference first, so it settles while we write the rest (datasheet power-up flow).
        self.write_reg(REG_CONFIG3, w[REG_CONFIG3])
        if not self._ref_on:
            self._sleep_us(T_REF_SETTLE_US)
            self._ref_on = True
        mv = memoryview(w)
        self.write_regs(REG_CONFIG1, mv[REG_CONFIG1:REG_CONFIG3])
        self.write_regs(REG_LOFF, mv[REG_LOFF:REG_LOFF_STATP])  # LOFF, CHnSET, BIAS/LOFF sense, flip
        self.write_regs(REG_MISC1, mv[REG_MISC1:NREG])
        self._verify()
        if nc > 1:
            self._check_chain(fs)

        self.fs = fs
        self.mask = mask
        n = 0
        for i in range(NCH):
            on = mask >> i & 1
            self.gains[i] = gain[i] if on else 0
            n += on
        self.per_chip = n
        self.n_ch = n * nc

    def _check_chain(self, fs: int) -> None:
        # RREG reaches chip 1 only: every other chip proves itself by its data. One
        # conversion (RDATA, SDATAC mode): n_chips status words with the 1100 sync, then
        # zeros from the grounded DAISY_IN of the last chip.
        nc = self.n_chips
        buf = bytearray(FRAME_BYTES * (nc + 1))
        period = 1_000_000 // fs + 1
        if self._start is None:
            self.command(START)
        else:
            self._start.on()
        try:
            waited = 0
            while self._drdy.value() != 0:
                if waited > 8 * period + 1000:  # settling is 4 periods on the real chip
                    raise ADS1299Error("daisy chain: no DRDY after START (check CLK and START)")
                self._sleep_us(period)
                waited += period
            self._cs.off()
            self._byte(RDATA)
            self._spi.readinto(buf, 0)
            self._cs.on()
        finally:
            if self._start is None:
                self.command(STOP)
            else:
                self._start.off()
        for k in range(nc):
            st = buf[k * FRAME_BYTES]
            if st & 0xF0 != 0xC0:
                raise ADS1299Error("daisy chain: chip %d of %d gives no status word (0x%02X%02X%02X): check "
                                   "its power, its DOUT -> DAISY_IN of chip %d and its CONFIG1" % (
                                       k + 1, nc, st, buf[k * FRAME_BYTES + 1], buf[k * FRAME_BYTES + 2], k))
        if buf[nc * FRAME_BYTES] & 0xF0 == 0xC0:
            raise ADS1299Error("daisy chain: a status word after chip %d: more chips are chained than the "
                               "%d configured (channels would be misassigned)" % (nc, nc))

    def _verify(self) -> None:
        g = self._got
        self.read_regs(0, g)
        w = self._want
        for r in range(REG_CONFIG1, NREG):
            if r == REG_LOFF_STATP or r == REG_LOFF_STATN or r == REG_GPIO:
                continue  # status / not ours
            m = 0xFE if r == REG_CONFIG3 else 0xFF  # BIAS_STAT is read-only
            if (g[r] ^ w[r]) & m:
                raise ADS1299Error("%s (0x%02X): wrote 0x%02X, read back 0x%02X" % (REG_NAMES[r], r, w[r], g[r]))

    # -- streaming ---------------------------------------------------------------

    def start(self) -> None:
        """Start conversions (START pin or opcode), then RDATAC: frames follow DRDY."""
        if self._start is not None:
            self._start.on()
        else:
            self.command(START)
        self.command(RDATAC)
        self.running = True

    def stop(self) -> None:
        """Leave RDATAC (so registers can be accessed) and halt conversions."""
        self.command(SDATAC)
        if self._start is not None:
            self._start.off()
        else:
            self.command(STOP)
        self.running = False

    def standby(self) -> None:
        """Low-power standby (reference stays up); conversions halt."""
        self.stop()
        self.command(STANDBY)

    def wakeup(self) -> None:
        self.command(WAKEUP)

    def ready(self) -> bool:
        """DRDY is low: a conversion is waiting."""
        return self._drdy.value() == 0

    def read_frame(self, frame) -> bool:
        """Clock one frame (27 bytes per chip, RDATAC) into ``frame``; no allocation.

        Call when DRDY is low. Returns False if the (first chip's) status sync nibble is wrong.
        """
        cs = self._cs
        cs.off()
        self._spi.readinto(frame, 0)
        cs.on()
        return (frame[0] & 0xF0) == 0xC0

    def unpack(self, frame, out, offset: int, nch: int) -> None:
        """The active channels of a frame read by read_frame -> out[offset:offset + nch]
        (int32; a chain's chip-major). Allocation-free."""
        if self.n_chips == 1:
            unpack(frame, out, offset, nch)
        else:
            unpack_chain(frame, out, offset, self.n_chips, self.per_chip)

    def lead_off(self, frame) -> int:
        """Lead-off of a frame: one chip, bit i = CH(i+1)'s P or N electrode is off; a
        chain, bit k = an electrode of chip k+1 is off (8 bits for up to 64 electrodes)."""
        if self.n_chips == 1:
            return lead_off(frame)
        return chain_lead_off(frame, self.n_chips)

    def frame_ok(self, frame) -> bool:
        """Every chip's status sync nibble is 1100 (an SPI slip or a broken chain is not)."""
        return chain_ok(frame, self.n_chips)

    def channel_lsb_fv(self, ch: int) -> int:
        """fV per LSB of channel ch (0-based) as configured; 0 if the channel is off."""
        if self.n_chips > 1:
            ch = ch % self.per_chip if self.per_chip else 0
        g = self.gains[ch]
        return lsb_fv(g) if g else 0
