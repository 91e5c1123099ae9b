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
    def __init__(self, sideset_init=None):
        self.ins = []
        self.labels = {}
        self.wrap_target = 0
        self.wrap = -1
        self.sideset_init = sideset_init


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
        "x": "x", "y": "y", "osr": "osr", "isr": "isr", "null": "null", "pin": "pin", "pins": "pins",
        "x_dec": "x_dec", "y_dec": "y_dec", "block": "block", "noblock": "noblock",
    }


def asm_pio(**kw):
    def deco(f):
        p = _Prog(kw.get("sideset_init"))
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


class StateMachine:
    machines = {}

    def __init__(self, id, prog, freq=125000000, sideset_base=None, in_base=None, **kw):
        self.id = id
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
        self._restart()
        StateMachine.machines[id] = self

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
        if not self.running:
            return
        now = vclock.ticks_us()
        us = vclock.ticks_diff(now, self._t)
        self._t = now
        cyc = us * self.freq // 1000000
        while cyc > 0:
            cyc -= self._step(self.prog.ins[self.pc])

    def _side(self, v):
        if v is None:
            return 0
        st = self._stretch
        extra = 0
        if v != self.side_v:
            if self.side_v and self._hi:
                self.phases.append((self.side_v, self._hi))
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
            if take:
                nxt = self.prog.labels[lab]
        elif op == "irq":
            n = i.args[0]
            if isinstance(n, tuple):
                n = n[1]
            if n < 4 and self.handler is not None:
                self.handler(self)
        elif op == "in":
            n = i.args[1]
            self.isr = ((self.isr << n) | (self._val(i.args[0]) & ((1 << n) - 1))) & MASK32
        elif op == "push":
            if len(self.rx) < 4:
                self.rx.append(self.isr)
            self.isr = 0
        elif op == "wait":
            pol, src, idx = i.args
            pin = self.in_base
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
    sys.modules["machine"] = m
    sys.modules["rp2"] = r
