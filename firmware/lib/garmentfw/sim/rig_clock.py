# The rig runs the simulated garment's clock (virtual time, sim/clock.py), so that a
# host model of the body (the rider) and the garment advance in lockstep: the rig feeds
# the AFE's input for the next stretch, sends RIG_RUN, the board's idle loop advances the
# clock in idle-sized steps while the firmware does what falls due (conversions, pulses,
# the supervisor's checks), and RIG_RAN says how far it got. Deterministic, and as fast
# as host and firmware compute rather than as slow as the wall clock.
# Safety is not weakened: the heartbeat and every other check run on this same clock, so
# a host that stops pinging while the clock runs trips within limits.heartbeat_ms of
# garment time; and the rig going away (its socket closed, or nothing from the host on the
# rig or the link for wire.RIG_CLOCK_GUARD_MS of wall time: a host hung or killed) hands
# the clock back to the wall clock, where the heartbeat trips as on a real garment.
# Hook (boards/sim.py): self.clock = attach(self.rig, self.stim); idle() calls
# self.clock.idle(ms) and sleeps only when that returns False.
import struct

from garmentfw import budget, wire
from garmentfw.framing import Framer
from garmentfw.sim import clock

RIG_RAN_LEN = 22  # struct.calcsize(wire.RIG_RAN_FMT)


class RigClock:
    def __init__(self, rig, stim):
        self.rig = rig
        self.stim = stim
        self.pkt = Framer.packet()
        self.budget_us = 0
        self.ran_us = 0  # idle advances of this run
        self.t0_us = 0
        self.flags = 0
        self.pending = False  # a RIG_RUN not answered yet
        self.pulses_at = 0
        self.last_run_wall = 0  # wall ticks_ms of the host's last sign of life (a RIG_RUN, link input)
        self.runs = 0

    def _pulses(self) -> int:
        s = self.stim.rig_send if self.stim is not None else None  # a board without a stimulator
        return s.sent if s is not None else 0

    def on_run(self, run_us: int, flags: int) -> None:
        if not clock.is_virtual():
            clock.go_virtual()
            # Taken from the wall clock, time carries the wall's phases: the stimulation
            # service's periodic tick (every budget.PERIOD_MS, from the first pass after)
            # last ran at whatever ms the loop's passes hit, so in virtual time it fell on
            # one or the other 2 ms idle step, and a ride's pulses moved by 2 ms with how
            # the host and this process were scheduled before the rig came (seen under
            # load). Started PERIOD_MS on, every periodic task is due in this very pass
            # and runs from the virtual clock's start, whatever the wall clock did. (As
            # if the rig's first run had come 4 ms later: no garment can tell.)
            clock.advance(budget.PERIOD_MS * 1000)
        self.budget_us = run_us
        self.ran_us = 0
        self.flags = flags
        self.pending = True
        self.t0_us = clock.ticks_us()
        self.pulses_at = self._pulses()
        self.last_run_wall = clock._real.ticks_ms()
        self.runs += 1

    def activity(self) -> None:
        """The host sent something (its link or the rig): it is alive, whether or not it
        runs the clock right now (e.g. uploading a model before a ride). Called for every
        read of link input (TcpLink.on_input), not only for input that wakes the idle's
        poll: a host answered at once keeps sending while the loop is busy, never idle."""
        self.last_run_wall = clock._real.ticks_ms()

    def _answer(self) -> None:
        rig = self.rig
        self.pending = False
        if rig.client is None:
            return
        chip = rig.chip
        now = clock.ticks_us()
        # ran: garment time since the RIG_RUN, sleeps in the firmware included
        struct.pack_into(wire.RIG_RAN_FMT, self.pkt, 3, clock.ticks_diff(now, self.t0_us), now,
                         chip.conversions() & 0x3FFFFFFF, chip.queued(), rig.fed, rig.fs)
        m = rig.framer.encode(self.pkt, wire.RIG_RAN, RIG_RAN_LEN)
        try:
            rig.client.write(rig.framer.out, 0, m)
        except OSError:
            rig._drop()

    def idle(self, ms: int) -> bool:
        """The board's idle in virtual time: True when the clock was advanced (the loop
        goes on at once), False when the board should wait for its sockets."""
        if not clock.is_virtual():
            return False
        if self.rig.client is None or (not self.pending and clock.ticks_diff(
                clock._real.ticks_ms(), self.last_run_wall) > wire.RIG_CLOCK_GUARD_MS):
            if self.rig.client is not None:
                # said on the console (the host's launcher reads it): from here the ride
                # is no longer lockstep, so a host must not take it for a deterministic one
                print("rig clock: the host was silent for %d ms: the garment's clock follows the wall" % (
                    clock.ticks_diff(clock._real.ticks_ms(), self.last_run_wall)))
            clock.go_real()  # the clock's driver is gone: wall time, as on a real garment
            self.pending = False
            return False
        if not self.pending:
            return False
        left = self.budget_us - self.ran_us
        stop = (self.flags & wire.RUN_STOP_AT_PULSE) and self._pulses() != self.pulses_at
        if left <= 0 or stop:
            self._answer()
            return False
        step = ms * 1000
        if step > left:
            step = left
        clock.advance(step)
        self.ran_us += step
        return True


def attach(rig, stim) -> RigClock:
    """Route RIG_RUN to a RigClock (the rig's other messages pass on unchanged)."""
    rc = RigClock(rig, stim)
    deframer = rig.deframer
    orig = deframer._on_packet

    def on_packet(ptype, seq, pkt, n):
        if ptype == wire.RIG_RUN:
            if n == 5:
                run_us, flags = struct.unpack_from(wire.RIG_RUN_FMT, pkt, 3)
                rc.on_run(run_us, flags)
            else:
                rig.errors += 1
            return
        orig(ptype, seq, pkt, n)

    deframer._on_packet = on_packet
    return rc
