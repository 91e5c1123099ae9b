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
