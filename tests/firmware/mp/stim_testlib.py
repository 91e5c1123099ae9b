# Shared by the stimulation firmware tests (test_supervisor, test_stim_*,
# test_calibration): the virtual clock (vclock: import this before anything from
# garmentfw), the fake board (fakeboard) with the sim stimulator on the register-level
# AFE model, and helpers that send real encoded request frames to a Device.
from vclock import advance_us, mdiff, sleep_ms, sleep_us, ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401

from fakeboard import Board, Link  # noqa: F401, E402

import os  # noqa: E402
import struct  # noqa: E402
from array import array  # noqa: E402

from garmentfw import wire  # noqa: E402
from garmentfw.framing import Deframer, Framer  # noqa: E402


class Recorder:
    """Callbacks for a bare Supervisor: transitions and zeroing calls."""

    def __init__(self):
        self.changes = []
        self.zero_all = 0
        self.zero_ch = []

    def on_change(self, state, fault, text):
        self.changes.append((state, fault, text))

    def on_zero_all(self):
        self.zero_all += 1

    def on_zero_ch(self, ch):
        self.zero_ch.append(ch)


def tmpdir(tag):
    root = "/tmp/garment-stimtest-%s-%d" % (tag, id(advance_us))
    try:
        for n in os.listdir(root):
            os.remove(root + "/" + n)
    except OSError:
        pass
    return root


# ---- a Device on the fake board ----------------------------------------------------
class AcceptAll:
    """Stands in for an authenticated session (the auth module is tested on its own)."""

    def check(self, device, ptype, seq, pkt, body_len):
        return body_len

    reply_ref = -1  # no reply tags (the auth module tests them)

    def seal_unsolicited(self, pkt, ptype, body_len):
        return body_len  # nor unsolicited tags

    def done(self):
        pass


class Host:
    """Sends real frames to a Device and decodes what it answers."""

    def __init__(self, dev, board):
        self.dev = dev
        self.board = board
        self.framer = Framer()
        self.pkt = Framer.packet()
        self.got = []  # (type, seq, body bytes)
        self._d = Deframer(self._on, self._err)
        self.errors = 0

    def _on(self, ptype, seq, pkt, n):
        self.got.append((ptype, seq, bytes(pkt[3:3 + n])))

    def _err(self, code):
        self.errors += 1

    def send(self, ptype, body=b""):
        """Inject one request through the device's deframer (as the link would); returns its seq."""
        seq = self.framer.seq
        self.pkt[3:3 + len(body)] = body
        n = self.framer.encode(self.pkt, ptype, len(body))
        self.dev.deframer.feed(self.framer.out, n)
        return seq

    def collect(self):
        """Drain the device's queued output and decode it."""
        self.dev.txq.drain(self.board.link.write)
        out = self.board.link.out
        if out:
            self._d.feed(out, len(out))
            self.board.link.out = bytearray()

    def request(self, ptype, body=b""):
        """Send and return (reply type, body) of the answer to it."""
        seq = self.send(ptype, body)
        self.collect()
        for t, s, b in self.got:
            if t < 0x90 or t == wire.R_ERROR:
                if len(b) >= 2 and b[0] | (b[1] << 8) == seq and t != wire.R_EVENT:
                    return t, b[2:]
        raise AssertionError("no reply to 0x%02x" % ptype)

    def ok(self, ptype, body=b""):
        t, b = self.request(ptype, body)
        assert t != wire.R_ERROR, "request 0x%02x refused: %s" % (ptype, bytes(b[1:]).decode())
        return t, b

    def refused(self, ptype, body=b""):
        """(code, message) of an R_ERROR answer."""
        t, b = self.request(ptype, body)
        assert t == wire.R_ERROR, "request 0x%02x was accepted (reply 0x%02x)" % (ptype, t)
        return b[0], bytes(b[1:]).decode()

    def of_type(self, ptype):
        self.collect()
        return [b for t, s, b in self.got if t == ptype]

    def pulses(self):
        """Every pulse reported in R_PULSES so far: (t_us, ch, amplitude, width, interphase)."""
        out = []
        for b in self.of_type(wire.R_PULSES):
            n = b[0]
            assert len(b) == 1 + n * wire.PULSE_LEN, (len(b), n)
            for i in range(n):
                out.append(struct.unpack_from(wire.PULSE_FMT, b, 1 + i * wire.PULSE_LEN))
        return out

    def states(self):
        """Unsolicited R_STIM_STATE (ref NO_REF) as (state, fault, armed, electrode_mask)."""
        res = []
        for b in self.of_type(wire.R_STIM_STATE):
            if b[0] | (b[1] << 8) == wire.NO_REF:
                f = struct.unpack(wire.STIM_STATE_FMT, b[2:])
                res.append(f[:4])
        return res

    def clear(self):
        self.collect()
        self.got = []

    def ping(self):
        self.send(wire.T_PING, b"\0\0\0\0")


def calib_body(ch, sensory=5000, motor=10000, mx=30000, area=2500, width=300, freq=30):
    return struct.pack(wire.CALIB_FMT, ch, sensory, motor, mx, area, width, freq)


def test_body(ch, amp, width=300, freq=30, dur=1000):
    return struct.pack(wire.STIM_TEST_FMT, ch, amp, width, freq, dur)


def add_stim(d, b):
    """The stimulation service and its raw stages on Device ``d``, wired as app.make_device does."""
    from garmentfw.stim_service import StimService

    stim = StimService(d, b.stim)
    d.add_service(stim)
    d.set_stages(artefacts=stim.artefacts, guard=stim.guard, window=d.window)
    d.outputs_off.append(stim.safe_off)
    return stim


def make_device(store_root=None, n_stim=4, auth=True):
    """A Device with the stimulation service on the fake board (auth: accept-all)."""
    from garmentfw.device import Device

    b = Board(store_root, n_stim)
    d = Device(b)
    stim = add_stim(d, b)
    if auth:
        d.auth = AcceptAll()
    h = Host(d, b)
    return b, d, stim, h


def run(dev, host, ms, step_us=1000, ping_every_ms=100):
    """Run the device loop for ``ms`` of virtual time, pinging like a live host
    (ping_every_ms = 0: no heartbeat)."""
    steps = ms * 1000 // step_us
    next_ping = 0
    for i in range(steps):
        if ping_every_ms and i * step_us >= next_ping:
            host.ping()
            next_ping += ping_every_ms * 1000
        advance_us(step_us)
        dev.step()


def armed_device(channels=(0, 1), **kw):
    """Calibrated channels, armed, one ping done."""
    b, d, stim, h = make_device(**kw)
    run(d, h, 20)
    for ch in channels:
        h.ok(wire.T_CALIB_SET, calib_body(ch))
    h.ping()
    h.ok(wire.T_ARM)
    return b, d, stim, h


def track_peak(peak, block, n):
    """peak[c] = the largest |value| of channel c so far, over n 8-channel samples of block."""
    for i in range(n):
        for c in range(8):
            v = block[i * 8 + c]
            if v < 0:
                v = -v
            if v > peak[c]:
                peak[c] = v


def zeros(n):
    return array("i", bytes(4 * n))


def mu_device(board):
    """A Device on ``board`` with the motor-unit stage fitted as app.make_device fits it
    (auth: accept-all); returns (device, stage, host)."""
    from garmentfw.device import Device
    from garmentfw.mu_stage import MotorUnitStage

    d = Device(board)
    st = MotorUnitStage(d)
    d.add_service(st)
    d.set_stages(units=st)
    d.auth = AcceptAll()
    return d, st, Host(d, board)


class CountingSleeps:
    """with CountingSleeps() as w: ... - the virtual clock's sleeps counted in w.n while
    inside (a loop that waits out a pulse sleeps; one that leaves it to the peripheral
    does not), restored after."""

    def __enter__(self):
        import vclock

        self.n = 0
        self._t = vclock._t
        self._us = vclock._t.sleep_us
        self._ms = vclock._t.sleep_ms
        real = self._us

        def sleep_us(us):
            self.n += 1
            real(us)

        def sleep_ms(ms):
            self.n += 1
            real(ms * 1000)

        vclock._t.sleep_us = sleep_us
        vclock._t.sleep_ms = sleep_ms
        return self

    def __exit__(self, *exc):
        self._t.sleep_us = self._us
        self._t.sleep_ms = self._ms
        return False
