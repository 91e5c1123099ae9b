# The sim board's stimulator: a model of a constant-current front end, implementing the
# HAL driver contract of garmentfw.stim_engine. It
# - delivers (records) biphasic pulses, phase by phase, only while the output-enable is
#   on (off at construction, as a real board's enable pin pulled low at power-up);
# - drives its pulses into the current-source model (sim/current_source.py): constant
#   current up to the 150 V compliance into an electrode-skin load (series R plus a
#   parallel R-C) that the HIL rig sets (RIG_IMPEDANCE, RIG_LOAD, see sim_rig_stim.attach);
#   the skin under each electrode changes with wear, sweat and discomfort
#   (sim/electrode_skin.py, RIG_SKIN); it reads back what the board's track-and-hold measures at the end of the first phase
#   (electrode mV, sense-resistor uA), reset on enable and at the start of every pulse;
# - couples every pulse's artefact into the EMG the AFE model converts next
#   (add_artefact), and reports every pulse to the rig (RIG_PULSE) with the exact AFE
#   index of the first conversion it affects, so the rig can check the blanking;
# - has an E-stop button modelled as a level on a normally-closed contact (set_button:
#   released, pressed and held, wire broken): the contact open (pressed or broken) cuts
#   the output-enable in hardware and reads as "stop" (estop_active) for as long as it
#   lasts, as on the reference board.
# - times a pulse's start delay (the engine's next pulse of a burst, asked while the last
#   one runs) as a pulse peripheral does: the pulse's time, its AFE index and artefact
#   (the conversions before its start are left alone) and the rig's report are those of
#   the delayed start, and the electrode reading is held only from the end of its
#   phase 1 (-1 before). Unlike the boards' peripherals it commits a delayed pulse when
#   asked: a stop or the button within that delay (at most one slot) does not cancel it.
# Per pulse it allocates nothing.
import time
from array import array

from micropython import const

from garmentfw.sim.current_source import CurrentSource
from garmentfw.sim.electrode_skin import ElectrodeSkin

_MASK = const(0x3FFFFFFF)
_NIN = const(8)  # AFE inputs
ART_US = const(1500)  # how long a pulse's artefact lasts in the EMG
ART_MAX = const(8)  # samples of artefact at most (covers 2 kHz)
MAX_DELAY_US = const(8000)  # the longest start delay it times (the engine asks at most one slot)
# FakeADS1299 input-FIFO state words (its _S_RD, _S_CNT, _S_CAP): this module writes the
# artefact into the samples queued for conversion without changing ads1299_fake.py.
_S_RD = const(0)
_S_CNT = const(1)
_S_CAP = const(2)


def _ticks_us():
    return time.ticks_us()


def conversions_within(chip, us: int) -> int:
    """How many conversions the FakeADS1299 ``chip`` completes in the next ``us``
    (0 <= us < 2**14 at fs <= 16 kHz: small ints), from its conversion phase."""
    chip._advance()
    return (chip._acc + us * chip.fs()) // 1000000


def add_artefact(chip, art, n: int, scratch, skip: int = 0) -> int:
    """Add art[k*8 + c] nanovolts to input c of the n samples the FakeADS1299 ``chip``
    converts after the next ``skip`` (its input FIFO, right after the conversions due
    now; skip: those due before a delayed pulse starts). Missing queued samples (no
    feeder running) are queued (0 nV before the artefact, then the artefact alone), via
    scratch (an array('i') of at least n*8). Returns the samples touched. Allocation-free."""
    chip._advance()  # conversions due before the pulse take the input that was there
    chip._mask()  # a timer-driven chip (drive()) converts from its interrupt: not meanwhile
    st = chip._st
    buf = chip._in
    rd = st[_S_RD] + skip
    if rd >= st[_S_CAP]:
        rd -= st[_S_CAP]
    cnt = st[_S_CNT] - skip
    cap = st[_S_CAP]
    if cnt < 0:
        m = -cnt  # the input before the pulse is not queued yet: silence up to it
        for i in range(ART_MAX * _NIN):
            scratch[i] = 0
        while m > 0:
            q = m if m < ART_MAX else ART_MAX
            chip.feed(scratch, q)
            m -= q
        cnt = 0
    k = 0
    while k < n and k < cnt:
        slot = rd + k
        if slot >= cap:
            slot -= cap
        base = slot * _NIN
        j = k * _NIN
        for c in range(_NIN):
            v = buf[base + c] + art[j + c]
            if v > 2000000000:
                v = 2000000000
            elif v < -2000000000:
                v = -2000000000
            buf[base + c] = v
        k += 1
    if k < n:
        m = n - k
        for i in range(m * _NIN):
            scratch[i] = art[k * _NIN + i]
        chip.feed(scratch, m)
    chip._unmask()
    return n


class SimStimulator:
    NAME = "sim-cc"

    def __init__(self, chip=None, n_channels: int = 4, clock=None, coupling_nv_per_ua: int = 100,
                 capacity: int = 256):
        if not 1 <= n_channels <= 8:
            raise ValueError("n_channels must be 1..8")
        self.n_channels = n_channels
        self.chip = chip
        self.clock = clock or _ticks_us
        self.enabled = False  # output-enable: off at power-up
        self.led = False  # output indicator
        self.source = CurrentSource(n_channels)
        src = self.source
        self.skin = ElectrodeSkin(n_channels, src.rs, src.rp, src.cp, self.clock)  # worn, sweating skin
        self.min_width_us = 20  # the track-and-hold measures every allowed width
        self.max_delay_us = MAX_DELAY_US  # it times a pulse's start delay (a burst's next pulse)
        self.coupling = coupling_nv_per_ua
        self.rig = None  # set by sim_rig_stim.attach()
        self.rig_send = None
        self._estop = False  # latched by the button's edge until read (estop_pressed)
        self.button = 0  # wire.ESTOP_RELEASED / ESTOP_PRESSED / ESTOP_BROKEN
        self.battery_mv = 4000  # the simulated battery (the rig sets it: RIG_BATTERY)
        # delivered phases, newest last (a ring): t_us, channel, phase-1 and phase-2 signed
        # amplitude (cathodic first), phase widths, interphase gap
        self.cap = capacity
        self.t = array("i", bytes(4 * capacity))
        self.ch = array("i", bytes(4 * capacity))
        self.a1 = array("i", bytes(4 * capacity))
        self.a2 = array("i", bytes(4 * capacity))
        self.w1 = array("i", bytes(4 * capacity))
        self.w2 = array("i", bytes(4 * capacity))
        self.ip = array("i", bytes(4 * capacity))
        self.afe_index = array("i", bytes(4 * capacity))
        self.count = 0  # pulses delivered since construction
        self.per_ch = array("i", bytes(4 * 8))  # pulses delivered per channel
        self.refused = 0  # pulse() while the output-enable was off (a bug if ever > 0)
        self.offs = 0
        self.all_offs = 0
        self.net_charge_pc = 0  # sum of both phases' charge over every pulse: stays 0
        self._art = array("i", bytes(4 * ART_MAX * _NIN))
        self._scratch = array("i", bytes(4 * ART_MAX * _NIN))
        self.artefacts = True
        # when each channel's reading is taken (its last phase 1's end): raw ticks in a list
        self.held_at = [self.clock()] * 8

    # ---- HAL driver contract -------------------------------------------------------
    def enable(self) -> None:
        self.source.clear()
        if self.button:
            return  # the contact is open: the hardware interlock holds the enable low
        self.enabled = True
        self.led = True

    def all_off(self) -> None:
        self.enabled = False
        self.led = False
        self.all_offs += 1

    def off(self, ch: int) -> None:
        self.offs += 1  # nothing in flight between pulses: a pulse is atomic here

    def load_mv(self, ch: int) -> int:
        return self.source.mv[ch] if self._held(ch) else -1

    def load_ua(self, ch: int) -> int:
        return self.source.ua[ch] if self._held(ch) else -1

    def _held(self, ch: int) -> bool:
        # the track-and-hold takes its reading at the end of the pulse's phase 1
        return time.ticks_diff(self.clock(), self.held_at[ch]) >= 0

    def estop_pressed(self) -> bool:
        v = self._estop
        self._estop = False
        return v

    def estop_active(self) -> bool:
        """The E-stop contact is open now (pressed, or its wire broken)."""
        return self.button != 0

    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int, delay_us: int = 0) -> bool:
        """One pulse whose phase 1 starts ``delay_us`` from now (the engine's next pulse of
        a burst, timed here as a pulse peripheral would): recorded, driven, coupled into
        the AFE at that time."""
        if not self.enabled or not 0 <= ch < self.n_channels or not 0 <= delay_us <= MAX_DELAY_US:
            self.refused += 1
            return False
        start = time.ticks_add(self.clock(), delay_us)
        t = start & _MASK
        self.held_at[ch] = time.ticks_add(start, width_us)
        self.skin.apply(ch, self.source)
        self.source.drive(ch, amplitude_ua, width_us)
        i = self.count % self.cap
        self.t[i] = t
        self.ch[i] = ch
        self.a1[i] = -amplitude_ua  # cathodic phase first
        self.w1[i] = width_us
        self.ip[i] = interphase_us
        self.a2[i] = amplitude_ua  # equal and opposite: charge-balanced
        self.w2[i] = width_us
        self.net_charge_pc += self.a1[i] * self.w1[i] + self.a2[i] * self.w2[i]
        idx = -1
        chip = self.chip
        if chip is not None:
            skip = conversions_within(chip, delay_us) if delay_us else 0
            idx = (chip.conversions() + skip) & _MASK  # the first conversion after the pulse starts
            if self.artefacts:
                self._artefact(chip, ch, amplitude_ua, skip)
        self.afe_index[i] = idx
        self.count += 1
        self.per_ch[ch] += 1
        send = self.rig_send
        if send is not None:
            send(t, idx if idx >= 0 else 0, ch, amplitude_ua, width_us)
        return True

    # ---- sim / rig side ------------------------------------------------------------
    def set_impedance(self, ch: int, ohms: int) -> None:
        """The electrode pair of ``ch`` as a plain resistance (1 MOhm: peeled off; 50: shorted)."""
        self.source.set_load(ch, ohms, 0, 0)
        self.skin.set_nominal(ch, ohms, 0, 0)

    def set_load(self, ch: int, rs_ohm: int, rp_ohm: int, cp_nf: int) -> None:
        """The electrode-skin load of ``ch``: series rs plus rp || cp."""
        self.source.set_load(ch, rs_ohm, rp_ohm, cp_nf)
        self.skin.set_nominal(ch, rs_ohm, rp_ohm, cp_nf)

    def press_estop(self) -> None:
        """The E-stop button pressed (and held until set_button(ESTOP_RELEASED))."""
        self.set_button(1)

    def set_button(self, level: int) -> None:
        """The button's level: 0 released (contact closed), 1 pressed, 2 wire broken.
        Opening the contact cuts the output at once (the hardware interlock)."""
        if level and not self.button:
            self.all_off()
            self._estop = True
        self.button = level

    def last(self, k: int = 0) -> tuple:
        """The k-th most recent pulse: (t_us, ch, a1, w1, ip, a2, w2, afe_index)."""
        i = (self.count - 1 - k) % self.cap
        return (self.t[i], self.ch[i], self.a1[i], self.w1[i], self.ip[i], self.a2[i], self.w2[i], self.afe_index[i])

    def _artefact(self, chip, ch: int, amplitude_ua: int, skip: int = 0) -> None:
        # A decaying, alternating spike: strongest on the EMG input of the same index.
        fs = chip.fs()
        n = 1 + ART_US * fs // 1000000
        if n > ART_MAX:
            n = ART_MAX
        peak = amplitude_ua * self.coupling
        art = self._art
        for k in range(n):
            v = peak >> k
            if k & 1:
                v = -v
            for c in range(_NIN):
                art[k * _NIN + c] = v if c == ch else v >> 2
        add_artefact(chip, art, n, self._scratch, skip)
