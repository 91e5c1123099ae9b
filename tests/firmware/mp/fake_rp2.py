# A fake of MicroPython's `rp2` module (asm_pio, PIO, StateMachine) for the firmware
# tests, on the virtual clock: @asm_pio really assembles the program (the PIO assembler's
# names bound into the function's globals, as rp2.asm_pio does) and StateMachine RUNS it
# cycle by cycle at its frequency, so a wrong loop count or overhead shows as a wrong
# delivered width. Modelled: pull (block: stall, side-set still applied), mov (x, y, osr,
# isr, null, invert), jmp (always, x_dec, y_dec), irq (rel; flags 0-3 call the handler
# given to sm.irq), in_, push, wait on a GPIO, nop, side-set, [delay], wrap; a 4-word TX
# FIFO that restart() keeps (the chip clears it only on init). stretch(side, extra)
# holds the next phase with that side-set value `extra` cycles longer (a fault in the
# part) so a test can look for it. `phases` per state machine: (side value, cycles) of
# every high side-set period delivered, oldest first.
import sys
from array import array

import vclock

MASK32 = 0xFFFFFFFF


class _I:
    def __init__(self, op, *args):
        self.op = op
        self.args = args
        self.sv = None
        self.delay = 0

    def side(self, v):
        self.sv = v
        return self

    def __getitem__(self, d):
        self.delay = d
        return self


class _Prog:
    def __init__(self, sideset_init=None, autopush=False, push_thresh=32, fifo_join=0):
        self.ins = []
        self.labels = {}
        self.wrap_target = 0
        self.wrap = -1
        self.sideset_init = sideset_init
        self.autopush = autopush
        self.push_thresh = push_thresh
        self.rx_depth = 8 if fifo_join == PIO.JOIN_RX else 4


_cur = []


def _emit(op, *args):
    i = _I(op, *args)
    _cur[-1].ins.append(i)
    return i


def _ns():
    def label(n):
        _cur[-1].labels[n] = len(_cur[-1].ins)

    def wrap_target():
        _cur[-1].wrap_target = len(_cur[-1].ins)

    def wrap():
        _cur[-1].wrap = len(_cur[-1].ins) - 1

    return {
        "label": label, "wrap_target": wrap_target, "wrap": wrap,
        "mov": lambda d, s: _emit("mov", d, s), "jmp": lambda c, l=None: _emit("jmp", c, l) if l is not None else _emit("jmp", None, c),
        "pull": lambda b="block": _emit("pull", b), "push": lambda b="block": _emit("push", b),
        "irq": lambda n: _emit("irq", n), "in_": lambda s, n: _emit("in", s, n),
        "wait": lambda pol, src, idx: _emit("wait", pol, src, idx), "nop": lambda: _emit("nop"),
        "rel": lambda n: ("rel", n), "invert": lambda s: ("inv", s),
        "x": "x", "y": "y", "osr": "osr", "isr": "isr", "null": "null", "pin": "pin", "pins": "pins", "gpio": "gpio",
        "x_dec": "x_dec", "y_dec": "y_dec", "block": "block", "noblock": "noblock",
    }


def asm_pio(**kw):
    def deco(f):
        p = _Prog(kw.get("sideset_init"), kw.get("autopush", False), kw.get("push_thresh", 32), kw.get("fifo_join", 0))
        g = f.__globals__
        saved = {}
        ns = _ns()
        for k in ns:
            if k in g:
                saved[k] = g[k]
            g[k] = ns[k]
        _cur.append(p)
        try:
            f()
        finally:
            _cur.pop()
            for k in ns:
                if k in saved:
                    g[k] = saved[k]
                else:
                    del g[k]
        if p.wrap < 0:
            p.wrap = len(p.ins) - 1
        return p
    return deco


class PIO:
    OUT_LOW = 0
    OUT_HIGH = 1
    IN_LOW = 0
    IN_HIGH = 1
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    JOIN_NONE = 0
    JOIN_TX = 1
    JOIN_RX = 2


CUR_NS = [0]  # the fake's timeline (ns) at the cycle a state machine is executing
_CLK = [None, 0]  # [vclock ticks_us last read, microseconds since the first read]


def _abs_us():
    """Microseconds on the fake's timeline: vclock's ticks, unwrapped."""
    now = vclock.ticks_us()
    if _CLK[0] is None:
        _CLK[0] = now
    _CLK[1] += vclock.ticks_diff(now, _CLK[0])
    _CLK[0] = now
    return _CLK[1]


class SenseLine:
    """A phase sense line: the OR of side-set bit ``bit`` of the pulse state machines
    ``sm_ids`` (bit 0: every channel's A output, bit 1: B), read at the cycle the reading
    machine executes (CUR_NS), from each pulse machine's timeline of side-set changes."""

    def __init__(self, bit, sm_ids):
        self.bit = bit
        self.sm_ids = sm_ids

    def value(self, v=None):
        t = CUR_NS[0]
        level = 0
        for i in self.sm_ids:
            m = StateMachine.machines.get(i)
            if m is None:
                continue
            m._sync()  # it has run at least up to t
            CUR_NS[0] = t
            s = 0
            for ts, sv in m.side_log:
                if ts > t:
                    break
                s = sv
            level |= (s >> self.bit) & 1
        return level

    def next_change(self, t):
        """The first side-set change after ``t`` on any of the machines (None: none yet)."""
        best = None
        for i in self.sm_ids:
            m = StateMachine.machines.get(i)
            if m is None:
                continue
            m._sync()
            for ts, _sv in m.side_log:
                if ts > t and (best is None or ts < best):
                    best = ts
        CUR_NS[0] = t
        return best


WIRES = {}  # GPIO number -> what drives it on the board (a SenseLine), for in_base / jmp_pin
SIDE_HOOKS = {}  # side-set base GPIO -> fn(side value) (a bus model that watches those pins)
GPIO = {}  # GPIO number -> pin-like (value()) that `wait(pol, gpio, n)` reads


class StateMachine:
    machines = {}
    running_list = []  # the machines, newest per id (sync_all)

    def __init__(self, id, prog, freq=125000000, sideset_base=None, in_base=None, jmp_pin=None, **kw):
        self.id = id
        # a GPIO the board's wiring drives (a sense line) reads as that wire
        in_base = WIRES.get(getattr(in_base, "id", None), in_base)
        jmp_pin = WIRES.get(getattr(jmp_pin, "id", None), jmp_pin)
        self.jmp_pin = jmp_pin
        self.side_log = []  # (ns on the fake's timeline, side-set value) at every change
        self._abs_ns = _abs_us() * 1000
        self.prog = prog
        self.freq = freq
        self.sideset_base = sideset_base
        self.in_base = in_base
        self.tx = []
        self.rx = []
        self.handler = None
        self.running = False
        self.side_v = 0
        self.phases = []  # (side value, cycles) of every high period delivered
        self._hi = 0  # cycles in the current high period
        self._stretch = None
        self.puts = 0
        self._debt = 0
        self.side_hook = SIDE_HOOKS.get(sideset_base.id if sideset_base is not None and hasattr(sideset_base, "id") else -1)
        self._restart()
        old = StateMachine.machines.get(id)
        if old is not None:
            StateMachine.running_list.remove(old)
        StateMachine.machines[id] = self
        StateMachine.running_list.append(self)

    def _restart(self):
        self.pc = 0
        self.x = self.y = self.osr = self.isr = 0
        self.isr_n = 0
        self._t = vclock.ticks_us()
        self._frac = 0

    # ---- MicroPython API ---------------------------------------------------------
    def active(self, v=None):
        self._sync()
        if v is None:
            return self.running
        self.running = bool(v)
        self._t = vclock.ticks_us()
        return self.running

    def restart(self):
        self._sync()
        self._restart()

    def exec(self, src):
        ns = _ns()
        p = _Prog()
        _cur.append(p)
        try:
            eval(src, ns)
        finally:
            _cur.pop()
        self._step(p.ins[0], immediate=True)

    def put(self, v, shift=0):
        self._sync()
        if len(self.tx) >= 4:
            raise RuntimeError("TX FIFO full: the real put() would block")
        self.tx.append((v << shift) & MASK32)
        self.puts += 1

    def get(self, buf=None, shift=0):
        self._sync()
        return self.rx.pop(0) >> shift

    def tx_fifo(self):
        self._sync()
        return len(self.tx)

    def rx_fifo(self):
        self._sync()
        return len(self.rx)

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler

    @staticmethod
    def sync_all():
        for m in StateMachine.running_list:  # a list: iterating it allocates nothing
            m._sync()

    # ---- test side -----------------------------------------------------------------
    def stretch(self, side_value, extra_cycles):
        """The next high period with this side-set value lasts extra_cycles longer."""
        self._stretch = [side_value, extra_cycles]

    def run_until_idle(self):
        """Advance the clock until the program stalls on an empty TX FIFO (test helper)."""
        for _ in range(100000):
            vclock.advance_us(1)
            self._sync()
            if not self.tx and self.prog.ins[self.pc].op == "pull" and self._hi == 0:
                return

    # ---- the machine ---------------------------------------------------------------
    def _sync(self):
        end_ns = _abs_us() * 1000
        if not self.running:
            self._abs_ns = end_ns
            return
        now = vclock.ticks_us()
        us = vclock.ticks_diff(now, self._t)
        self._t = now
        # cycles an instruction ran past the last stretch (a stretched phase) are owed
        cyc = us * self.freq // 1000000 - self._debt
        self._debt = 0
        t_ns = self._abs_ns
        ns_per = 1000000000 // self.freq
        while cyc > 0:
            CUR_NS[0] = t_ns  # when this cycle runs: what a sense line reads then
            i = self.prog.ins[self.pc]
            c = self._step(i)
            if i.op == "wait" and self.prog.ins[self.pc] is i:
                nc = getattr(self.in_base, "next_change", None) if i.args[1] == "pin" else None
                nxt = nc(t_ns) if nc is not None else None
                skip = (nxt - t_ns + ns_per - 1) // ns_per if nxt is not None else cyc
                if skip >= cyc:
                    # nothing moves the pin in this stretch (a GPIO while the clock stands
                    # still here, a sense line with no change before its end)
                    if self.side_v:
                        self._hi += cyc - c
                    t_ns = end_ns
                    break
                cyc -= skip
                t_ns += skip * ns_per
                continue
            cyc -= c
            t_ns += c * ns_per
        if cyc < 0:
            self._debt = -cyc  # the machine is ahead of the clock: its time is its own
        self._abs_ns = t_ns if t_ns > end_ns else end_ns

    def _push(self):
        if len(self.rx) < self.prog.rx_depth:
            self.rx.append(self.isr)
        self.isr = 0
        self.isr_n = 0
        DMA.service(self)

    def _side(self, v):
        if v is None:
            return 0
        hook = self.side_hook
        if hook is not None and v != self.side_v:
            hook(v)
        st = self._stretch
        extra = 0
        if v != self.side_v:
            log = self.side_log
            log.append((CUR_NS[0], v))
            if len(log) > 32:
                log.pop(0)
            if self.side_v and self._hi:
                ph = self.phases
                ph.append((self.side_v, self._hi))
                if len(ph) > 64:
                    ph.pop(0)  # the newest are what tests read (a capture clocks thousands)
                self._hi = 0
            if st is not None and v == st[0]:
                extra = st[1]
                self._stretch = None
        self.side_v = v
        return extra

    def _val(self, s):
        if isinstance(s, tuple) and s[0] == "inv":
            return ~self._val(s[1]) & MASK32
        return 0 if s == "null" else getattr(self, s)

    def _step(self, i, immediate=False):
        cycles = 1 + i.delay + self._side(i.sv)
        nxt = self.pc + 1
        op = i.op
        if op == "pull":
            if not self.tx:
                nxt = self.pc  # stall
                cycles = 1
            else:
                self.osr = self.tx.pop(0)
        elif op == "mov":
            setattr(self, i.args[0], self._val(i.args[1]))
        elif op == "jmp":
            cond, lab = i.args
            take = True
            if cond == "x_dec":
                take = self.x != 0
                self.x = (self.x - 1) & MASK32
            elif cond == "y_dec":
                take = self.y != 0
                self.y = (self.y - 1) & MASK32
            elif cond == "pin":
                take = self.jmp_pin is not None and self.jmp_pin.value() != 0
            if take:
                nxt = self.prog.labels[lab]
        elif op == "irq":
            n = i.args[0]
            if isinstance(n, tuple):
                n = n[1]
            if n < 4 and self.handler is not None:
                self.handler(self)
        elif op == "in":
            p = self.prog
            if p.autopush and self.isr_n >= p.push_thresh and len(self.rx) >= p.rx_depth:
                nxt = self.pc  # autopush stalls on a full RX FIFO
            else:
                n = i.args[1]
                src = i.args[0]
                v = (self.in_base.value() if src == "pins" else self._val(src)) & ((1 << n) - 1)
                self.isr = ((self.isr << n) | v) & MASK32
                self.isr_n += n
                if p.autopush and self.isr_n >= p.push_thresh:
                    self._push()
        elif op == "push":
            if len(self.rx) >= self.prog.rx_depth and i.args[0] == "block":
                nxt = self.pc  # stall until the FIFO has room
            else:
                self._push()
        elif op == "wait":
            pol, src, idx = i.args
            pin = GPIO.get(idx) if src == "gpio" else self.in_base
            if pin is not None and (pin.value() != pol):
                nxt = self.pc
        if self.side_v:
            self._hi += cycles
        if immediate:
            return cycles
        if nxt > self.prog.wrap:
            nxt = self.prog.wrap_target
        self.pc = nxt
        return cycles


# ---- DMA ----------------------------------------------------------------------------
# rp2.DMA as the RP2040 has it: CTRL_TRIG fields (enable 0, high_pri 1, size 2-3,
# inc_read 4, inc_write 5, ring_size 6-9, ring_sel 10, chain_to 11-14, treq_sel 15-20),
# read/write/count/ctrl registers, transfers paced by their DREQ (a PIO RX FIFO:
# DREQ 4 + sm on PIO0, 12 + sm - 4 on PIO1) or PERMANENT (0x3F); the write address
# wraps at 1 << ring_size bytes when ring_sel; TRANS_COUNT reloads on every trigger;
# at the count's end the channel stops and triggers chain_to. Memory is what was handed
# to config() as a buffer (addressed through uctypes.addressof) and the channels' own
# registers (a write to CH_CTRL_TRIG triggers that channel, as chained reloads do).
import struct  # noqa: E402
import uctypes  # noqa: E402

_PIO_BASE = (0x50200000, 0x50300000)
_FIELDS = (("enable", 0, 1), ("high_pri", 1, 1), ("size", 2, 2), ("inc_read", 4, 1), ("inc_write", 5, 1),
           ("ring_size", 6, 4), ("ring_sel", 10, 1), ("chain_to", 11, 4), ("treq_sel", 15, 6))
_MEM = []  # (address, buffer) of every buffer handed to a channel


def _fifo_addr(sm_id):
    return _PIO_BASE[sm_id // 4] + 0x20 + 4 * (sm_id % 4)


def _dreq(sm_id):
    return (4 if sm_id < 4 else 12) + sm_id % 4


def _addr(obj):
    if isinstance(obj, int):
        return obj
    a = uctypes.addressof(obj)
    for m in _MEM:
        if m[0] == a and len(m[1]) == len(obj):
            return a
    _MEM.append((a, obj))
    return a


def _store(addr, v):
    for ch in DMA.channels:
        r = uctypes.addressof(ch.registers)
        if r <= addr < r + 64:
            ch._reg_write((addr - r) >> 2, v)
            return
    for a, buf in _MEM:
        if a <= addr < a + len(buf):
            struct.pack_into("<I", buf, addr - a, v & MASK32)
            return
    raise RuntimeError("DMA write to 0x%x: no memory there (a bus fault)" % addr)


def _load(addr):
    for a, buf in _MEM:
        if a <= addr < a + len(buf):
            return struct.unpack_from("<I", buf, addr - a)[0]
    raise RuntimeError("DMA read from 0x%x: no memory there (a bus fault)" % addr)


class DMA:
    channels = []

    def __init__(self):
        self.channel = len(DMA.channels)
        if self.channel >= 12:
            raise OSError("no free DMA channel")
        self.registers = array("I", bytes(64))
        self.read = 0
        self._w = 0
        self.count = 0
        self._reload = 0
        self.ctrl = 0
        self.busy = False
        self.transfers = 0
        DMA.channels.append(self)

    @staticmethod
    def pack_ctrl(default=None, **kw):
        v = 0 if default is None else default
        vals = {"enable": 1, "size": 2, "inc_read": 1, "inc_write": 1, "treq_sel": 0x3F}
        vals.update(kw)
        for name, sh, bits in _FIELDS:
            if name in vals:
                v = (v & ~(((1 << bits) - 1) << sh)) | ((int(vals[name]) & ((1 << bits) - 1)) << sh)
        unknown = [k for k in kw if k not in [f[0] for f in _FIELDS]]
        if unknown:
            raise TypeError("unknown ctrl fields %r" % unknown)
        return v

    @staticmethod
    def unpack_ctrl(v):
        return {name: (v >> sh) & ((1 << bits) - 1) for name, sh, bits in _FIELDS}

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        if read is not None:
            self.read = _addr(read)
        if write is not None:
            self._w = _addr(write)
        if count is not None:
            self._reload = count
            self.count = count
        if ctrl is not None:
            self.ctrl = ctrl
        if trigger:
            self._trigger()

    @property
    def write(self):
        StateMachine.sync_all()  # the hardware has run up to now
        return self._w

    def active(self, v=None):
        StateMachine.sync_all()
        if v is None:
            return self.busy
        if v:
            self._trigger()
        else:
            self.busy = False
        return self.busy

    def close(self):
        self.busy = False

    # ---- the engine -----------------------------------------------------------------
    def _f(self, name):
        return DMA.unpack_ctrl(self.ctrl)[name]

    def _reg_write(self, word, v):
        self.registers[word] = v & MASK32
        if word == 3:  # CTRL_TRIG
            self.ctrl = v
            self._trigger()

    def _trigger(self):
        if not self.ctrl & 1:
            return
        self.count = self._reload
        self.busy = True
        if self._f("treq_sel") == 0x3F:
            self._run_permanent()
        else:
            for sm in StateMachine.machines.values():
                DMA.service(sm)

    def _run_permanent(self):
        while self.busy and self.count:
            self._move(_load(self.read))

    def _move(self, v):
        _store(self._w, v)
        self.transfers += 1
        if self._f("inc_read"):
            self.read += 4
        if self._f("inc_write"):
            w = self._w + 4
            rs = self._f("ring_size")
            if rs and self._f("ring_sel"):
                m = (1 << rs) - 1
                w = (self._w & ~m) | (w & m)
            self._w = w
        self.count -= 1
        if self.count == 0:
            self.busy = False
            c = self._f("chain_to")
            if c != self.channel:
                DMA.channels[c]._trigger()

    @staticmethod
    def service(sm):
        """The RX FIFO of ``sm`` has words: every channel paced by it moves them."""
        for ch in DMA.channels:
            while (ch.busy and sm.rx and ch._f("treq_sel") == _dreq(sm.id)
                   and ch.read == _fifo_addr(sm.id)):
                ch._move(sm.rx.pop(0))



class _Mod:
    pass


def _rp2_pin():
    import fake_esp32 as F

    class Pin(F.Pin):
        """machine.Pin of the rp2 port: unlike the esp32 port's, irq() takes ``hard``."""

        def irq(self, handler=None, trigger=0, hard=False):
            self.handler = handler
            self.hard = hard

    return Pin


def install():
    """Install the fake as `rp2` (and fake_esp32's Pin/PWM/ADC as `machine`)."""
    import fake_esp32 as F

    m = _Mod()
    m.Pin = _rp2_pin()
    m.PWM = F.PWM
    m.ADC = F.ADC
    r = _Mod()
    r.asm_pio = asm_pio
    r.PIO = PIO
    r.StateMachine = StateMachine
    r.DMA = DMA
    sys.modules["machine"] = m
    sys.modules["rp2"] = r
