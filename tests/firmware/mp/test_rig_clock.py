# The rig's hold on the sim board's clock (sim/rig_clock.py): taken from the wall clock, time
# starts with every periodic task due (no phase carried over from wall time), a run on virtual
# time moves nothing by itself; and every read of link input counts as the host's sign of life.
import socket
import time

from garmentfw import budget
from garmentfw.sim import clock
from garmentfw.sim.rig_clock import RigClock
from garmentfw.sim.tcp_link import TcpLink


class _Rig:
    client = None


def test_taking_the_clock_from_the_wall_makes_every_periodic_task_due():
    clock.go_real()
    clock.start(1000, 5000)
    rc = RigClock(_Rig(), None)
    # a periodic task (the stimulation service's tick) that ran just now, on the wall clock
    last = clock.ticks_ms()
    rc.on_run(0, 0)
    assert clock.is_virtual()
    assert clock.ticks_diff(clock.ticks_ms(), last) >= budget.PERIOD_MS
    # on virtual time already: a run's start moves nothing
    ms, us = clock.ticks_ms(), clock.ticks_us()
    rc.on_run(0, 0)
    assert clock.ticks_ms() == ms and clock.ticks_us() == us
    clock.go_real()


def _link():
    for port in range(47310, 47410):
        try:
            return TcpLink(port), port
        except OSError:
            pass
    raise OSError("no free port for the link")


def test_every_read_of_link_input_is_a_sign_of_life():
    link, port = _link()
    seen = []
    link.on_input = lambda: seen.append(1)
    host = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        host.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        host.write(b"\x01\x02\x03")
        buf = bytearray(16)
        got = 0
        deadline = time.ticks_add(time.ticks_ms(), 5000)
        while not got and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            got = link.readinto(buf)  # the first call accepts the host
        assert got == 3 and len(seen) == 1, (got, seen)
        assert link.readinto(buf) == 0 and len(seen) == 1  # nothing read: no sign
    finally:
        host.close()
        if link.client is not None:
            link.client.close()
        link.server.close()
