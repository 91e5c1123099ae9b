"""The whole garment on the emulated Cortex-M7: the host opens ``--device qemu`` through
the one way in (:func:`garment.devices.open_device`), the firmware's own ``main()`` runs
on MicroPython's qemu port and speaks the framed protocol over the board's UART (a pty).

Guest time is deterministic (``-icount shift=2``: 250 M instructions/s), so a stream is
complete however loaded the host is; these tests count samples, never wall time."""
from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient, model_id
from garment.devices import open_device
from garment.models.modelfile import from_bytes, retimed
from garment.protocol import wire
from garment.qemu.garment import ICOUNT_SHIFT, QemuGarment
from garment.transports import SerialTransport

pytestmark = pytest.mark.mcu

GOLDEN = Path(__file__).resolve().parents[2] / "models" / "golden"
#: Generous per reply: a loaded host emulates the core slower than its own clock.
TIMEOUT = 20.0


def _at_rate(name: str, fs: int) -> bytes:
    """A golden model with its windows set for ``fs`` (the same durations): the golden
    LDA and MLP are made for 2 kHz, which the qemu board refuses."""
    return retimed((GOLDEN / name).read_bytes(), fs)


async def _stream(g: GarmentClient, n_samples: int) -> list[int]:
    """Stream until ``n_samples`` per channel arrived; the first sample index of each block."""
    firsts = []
    got = 0
    await g.start_stream()
    while got < n_samples:
        block = await g.next_block(timeout=TIMEOUT)
        firsts.append(block.first_index)
        got += len(block.data)
    await g.stop_stream()
    return firsts


def _contiguous(g: GarmentClient) -> None:
    st = g.stats
    assert st.dropped == 0 and st.gaps == 0 and st.crc_errors == 0 and st.packets_lost == 0, st


async def _upload_and_decode(g: GarmentClient, model: bytes, n_out: int, n_windows: int) -> None:
    """Upload ``model`` (privileged chunks, each checked fresh by the garment's clock) and
    see ``n_windows`` consecutive on-device decoder outputs arrive while samples stream."""
    up = await g.upload_model(model)
    assert up["verified"] and up["active"]["crc"] == "%08x" % model_id(model), up
    step = from_bytes(model).features["increment"]
    while not g.decoder_outputs.empty():
        g.decoder_outputs.get_nowait()
    await g.start_stream()
    outs = [await asyncio.wait_for(g.decoder_outputs.get(), TIMEOUT) for _ in range(n_windows)]
    await g.stop_stream()
    ends = [o.window_end for o in outs]
    # Every window decoded on the core, in order, none skipped.
    assert [b - a for a, b in zip(ends, ends[1:])] == [step] * (n_windows - 1), outs
    assert all(len(o.outputs) == n_out for o in outs), outs
    _contiguous(g)


async def test_qemu_garment_streams_and_decodes_on_device() -> None:
    async with open_device("qemu", timeout=TIMEOUT) as conn:
        g = conn.client
        info = await g.info()
        assert info["board"] == "qemu" and info["channels_max"] == 8
        cfg = await g.get_config()
        # The boot default is the fastest rate the emulated core's budget allows.
        assert (cfg.fs, cfg.channels) == (250, 8), cfg
        await ensure_authenticated(g)
        # 8 ch x 500 Hz does not fit 250 M instructions/s with 2x headroom: refused by name.
        with pytest.raises(DeviceError) as e:
            await g.set_config(dataclasses.replace(cfg, fs=500))
        assert e.value.code == wire.E_OUT_OF_RANGE and "qemu at 250 MHz" in str(e.value)

        # 0.8 s of 8 ch x 250 Hz: every sample counter in sequence.
        firsts = await _stream(g, 200)
        assert len(firsts) > 4 and firsts == sorted(firsts)
        _contiguous(g)

        # On-device decode: the golden LDA (8 ch, 2 classes) set for 250 Hz.
        await _upload_and_decode(g, _at_rate("int8_lda.gmdl", 250), n_out=2, n_windows=5)


async def test_qemu_garment_takes_a_model_when_the_host_outruns_the_core() -> None:
    """The core at a quarter of its clock (``-icount shift=4``): whatever its load, the host
    then delivers UART bytes faster than the loop can take them, as a quiet host does at
    the real clock. Polled, qemu's one-byte receive register gave the loop one byte per
    pass, so a request spent seconds of the garment's clock on the wire and was refused
    as held back (E_STALE: 1.0-5.5 s measured); the receive interrupt's ring takes them
    all, and the first privileged requests after authenticating go through."""
    garment = QemuGarment(shift=ICOUNT_SHIFT + 2)
    await asyncio.to_thread(garment.start)
    try:
        async with GarmentClient(SerialTransport(garment.url), timeout=TIMEOUT) as g:
            await ensure_authenticated(g)
            cfg = await g.get_config()
            # 4 ch x 250 Hz fits a quarter of the core (the boot default does not).
            await g.set_config(dataclasses.replace(cfg, fs=250, channels=4))
            await _upload_and_decode(g, _at_rate("int8_ridge.gmdl", 250), n_out=1, n_windows=3)
    finally:
        await asyncio.to_thread(garment.stop)


BURST = """
import sys, uartrx, coresleep
uartrx.start()
sys.stdout.write('READY\\n')
while not uartrx.throttled():  # the ring is full: the rest waits in qemu, not lost
    coresleep.wait(1)
buf = bytearray(512)
got = 0
total = 0
while got < {n}:
    k = uartrx.readinto(buf)
    for i in range(k):
        total = (total * 31 + buf[i]) & 0xFFFFFF
    got += k
    if not k:
        coresleep.wait(1)
sys.stdout.write('GOT %d %d %d\\n' % (got, total, uartrx.throttled()))
"""


def test_uart_ring_holds_back_a_burst_larger_than_itself() -> None:
    """The receive ring (4 kB) never drops a byte: full, its handler leaves the byte in
    the register with the interrupt off until the firmware made room, and qemu holds the
    rest (flow control). 10 000 bytes sent while the guest reads nothing arrive whole."""
    import threading

    from garment.qemu.machine import QemuMachine

    data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(10_000))
    want = 0
    for b in data:
        want = (want * 31 + b) & 0xFFFFFF
    with QemuMachine(icount=True, shift=ICOUNT_SHIFT) as m:
        assert m.transport is not None and m.pty is not None
        ser = m.transport.serial
        ser.timeout = TIMEOUT
        m.transport.exec_raw_no_follow(BURST.format(n=len(data)))
        assert ser.read_until(b"READY").endswith(b"READY")  # the port's stdout sends \r\n
        writer = threading.Thread(target=ser.write, args=(data,), daemon=True)
        writer.start()
        line = ser.read_until(b"\n")
        while b"GOT" not in line:
            more = ser.read_until(b"\n")
            assert more, f"no answer from the guest after {line!r}"
            line = more
        writer.join(TIMEOUT)
        got, total, throttled = (int(x) for x in line.split(b"GOT", 1)[1].split()[:3])
        assert (got, total) == (len(data), want) and throttled >= 1, line


CAPTURE = r"""
import gc, time
from array import array
from garmentfw.boards.qemu import Board
from garmentfw.ring import SampleRing
try:
    import afeclock
except ImportError:
    afeclock = None
ms = time.ticks_ms
df = time.ticks_diff
b = Board()
afe = b.afe
chip = b.chip
ring = SampleRing(1024, 8)  # the device's ring on an MCU board (Device: AFE_RING default)
blk = array('i', bytes(4 * 8 * 64))
afe.attach(ring)

def start(fs):
    afe.configure(fs, 8)
    ring.reset(8)          # the device's order: configure, then its ring
    afe.poll(ring)         # the loop's first pass

def drain():
    got = 0
    gaps = 0
    nxt = None
    while True:
        afe.poll(ring)     # a loop pass
        k = ring.take(blk, 64)
        if not k:
            return got, gaps
        f = ring.first_index
        if nxt is not None and f != nxt:
            gaps += f - nxt
        nxt = f + k
        got += k

def result(tag, *v):
    print(tag, *v)

# 1. The loop held up 600 ms (150 conversions at 250 Hz, past the 64 the chip model once
# buffered) without touching the AFE: the ring fills meanwhile (seen from the loop at
# three points) and every conversion is in it, in order.
def held(t_ms, seen):
    # the loop away from the AFE; it only looks at the ring's count at 150, 300, 450 ms
    t0 = ms()
    i = 0
    while df(ms(), t0) < t_ms:
        if i < 3 and df(ms(), t0) >= 150 * (i + 1):
            seen[i] = ring.count()
            i += 1

seen = array('i', [0, 0, 0])
a0 = a1 = c0 = c1 = 0
gc.collect()
start(250)
a0 = gc.mem_alloc()
c0 = chip.conversions()
held(600, seen)
c1 = chip.conversions()
a1 = gc.mem_alloc()
if afeclock is not None:
    afeclock.stop()  # no conversion between the drain and the counts read after it
got, gaps = drain()
result("HELD", got, gaps, chip.conversions(), c1 - c0, afe.count, afe.overruns, chip.overruns, a1 - a0, *seen)

# 2. Producer and consumer at once: the loop takes from the ring in small pieces for 1 s of
# 8 ch x 1 kHz while the interrupt adds to it; every piece continues the last.
gc.collect()
start(1000)
t0 = ms()
got = 0
gaps = 0
takes = 0
nxt = None
while df(ms(), t0) < 1000:
    afe.poll(ring)
    k = ring.take(blk, 5)
    if k:
        f = ring.first_index
        if nxt is not None and f != nxt:
            gaps += 1
        nxt = f + k
        got += k
        takes += 1
if afeclock is not None:
    afeclock.stop()
more, g2 = drain()
result("BOTH", got + more, gaps + g2, takes, chip.conversions(), afe.overruns, chip.overruns)

# 3. The interrupt masked for 13 ms (3 periods at 250 Hz): the chip overwrote what nobody
# read, as the real chip does, and the capture counts it (a gap in the indices, never silent).
if afeclock is not None:
    start(250)
    t0 = ms()
    while df(ms(), t0) < 20:
        pass
    o0 = chip.overruns
    afeclock.hold()
    t0 = ms()
    while df(ms(), t0) < 13:
        pass
    afeclock.release()
    t0 = ms()
    while df(ms(), t0) < 10:
        pass
    afeclock.stop()
    got, gaps = drain()
    s = afeclock.stats()
    result("LATE", got, gaps, chip.conversions(), afe.overruns, chip.overruns - o0, s[2], s[3])

# 4. One conversion held: with no DRDY handler, the chip model keeps only the newest.
start(250)
t0 = ms()
while df(ms(), t0) < 12:
    pass
chip.drdy.irq(None)
c0 = chip.conversions()
o0 = chip.overruns
t0 = ms()
while df(ms(), t0) < 40:
    pass
if afeclock is not None:
    afeclock.stop()
result("DEPTH", chip.conversions() - c0, chip.overruns - o0, chip.pending())
if afeclock is not None:
    result("ERRORS", afeclock.stats()[3])
"""


@pytest.fixture(scope="module")
def capture_run() -> dict[str, list[int]]:
    """One guest (``-icount shift=2``, the live garment's core) runs CAPTURE on the qemu
    board: each line is a check's figures."""
    from garment.qemu.machine import QemuMachine

    with QemuMachine(icount=True, shift=ICOUNT_SHIFT) as m:
        out, err = m.run(CAPTURE, timeout=300)
    assert "Uncaught exception" not in out + err and not err.strip(), out + err
    res = {}
    for line in out.splitlines():
        tag, *vals = line.split()
        if tag.isupper():
            res[tag] = [int(v) for v in vals]
    return res


def test_qemu_board_captures_every_conversion_while_the_loop_is_held_up(capture_run) -> None:
    """The loop held 600 ms (150 conversions at 250 Hz; the real chip holds one): the timer
    interrupt's capture fills the ring meanwhile, between the loop's bytecodes, and loses
    nothing. Failed on the polled 64-deep model FIFO (the ring stayed empty while the loop
    was away, and 86 conversions were lost)."""
    got, gaps, conv, held, count, overruns, chip_overruns, alloc, *seen = capture_run["HELD"]
    assert 149 <= held <= 151 and got == conv == count, capture_run
    assert gaps == 0 and overruns == 0 and chip_overruns == 0, capture_run
    # filled while the loop looked away: about 37, 75, 112 conversions at the marks
    assert len(seen) == 3 and 0 < seen[0] < seen[1] < seen[2] < got, seen
    assert alloc == 0, "the interrupt's conversion and capture allocated on the heap"


def test_qemu_board_ring_producer_and_consumer_run_at_once(capture_run) -> None:
    """8 ch x 1 kHz for 1 s with the loop taking small pieces while the interrupt adds:
    every conversion once, in order, none lost."""
    got, gaps, takes, conv, overruns, chip_overruns = capture_run["BOTH"]
    assert 999 <= conv <= 1001 and got == conv, capture_run
    assert gaps == 0 and overruns == 0 and chip_overruns == 0, capture_run
    assert takes > 100, takes  # taken piece by piece as they came, not once at the end


def test_qemu_board_late_capture_loses_conversions_counted(capture_run) -> None:
    """The interrupt masked past three periods: the chip model overwrote the unread
    conversions (depth 1, as the chip) and the capture counts each one: status overruns
    and a gap of the same size in the indices."""
    got, gaps, conv, overruns, chip_overruns, late, errors = capture_run["LATE"]
    assert overruns == chip_overruns == late == gaps and overruns in (2, 3), capture_run
    assert got + overruns == conv and errors == 0, capture_run


def test_qemu_board_chip_model_holds_one_conversion(capture_run) -> None:
    """With no DRDY handler, the qemu board's chip model keeps only the newest conversion:
    each new one overwrites the unread one (overrun), as the ADS1299 does. Failed on the
    64-deep FIFO (13 conversions pending after 40 ms at 250 Hz)."""
    conv, chip_overruns, pending = capture_run["DEPTH"]
    assert 9 <= conv <= 11 and chip_overruns == conv - 1 and pending == 1, capture_run
    assert capture_run["ERRORS"] == [0], capture_run
