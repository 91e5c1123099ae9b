"""The whole garment on the emulated Cortex-M7: the host opens ``--device qemu`` through
the one way in (:func:`garment.devices.open_device`), the firmware's own ``main()`` runs
on MicroPython's qemu port and speaks the framed protocol over the board's UART (a pty).

Guest time is deterministic (``-icount shift=2``: 250 M instructions/s), so a stream is
complete however loaded the host is; these tests count samples, never wall time."""
from __future__ import annotations

import dataclasses

import pytest

from garment.auth import ensure_authenticated
from garment.client import DeviceError, GarmentClient
from garment.devices import open_device
from garment.protocol import wire

pytestmark = pytest.mark.mcu

#: Generous per reply: host -> guest moves one byte per turn of qemu's main loop.
TIMEOUT = 20.0


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


async def _fresh(call):  # type: ignore[no-untyped-def]
    """A privileged request, sent again (at most twice) if the garment found it stale.

    The emulated core's clock is deterministic (instructions), so it runs behind the
    host's whenever the host emulates fewer than 250 M instructions per second: by the
    host time its busy work took beyond its guest time. The host's estimate of the
    session clock then runs ahead of the garment's and a request can be refused as
    E_STALE (more than 250 ms in the future). That refusal's reply re-anchors the
    estimate, so the same request signed again is fresh."""
    for _ in range(2):
        try:
            return await call()
        except DeviceError as e:
            if e.code != wire.E_STALE:
                raise
    return await call()


def _contiguous(g: GarmentClient) -> None:
    st = g.stats
    assert st.dropped == 0 and st.gaps == 0 and st.crc_errors == 0 and st.packets_lost == 0, st


async def test_qemu_garment_streams_every_sample() -> None:
    async with open_device("qemu", timeout=TIMEOUT) as conn:
        g = conn.client
        info = await g.info()
        assert info["board"] == "qemu" and info["channels_max"] == 8
        cfg = await g.get_config()
        # The boot default is the fastest rate the emulated core's budget allows.
        assert (cfg.fs, cfg.channels) == (1000, 8), cfg
        await ensure_authenticated(g)
        # 8 ch x 2 kHz does not fit 250 M instructions/s with 2x headroom: refused by name.
        with pytest.raises(DeviceError) as e:
            await _fresh(lambda: g.set_config(dataclasses.replace(cfg, fs=2000)))
        assert e.value.code == wire.E_OUT_OF_RANGE and "qemu at 250 MHz" in str(e.value)

        # 0.4 s of 8 ch x 1 kHz: every sample counter in sequence.
        firsts = await _stream(g, 400)
        assert len(firsts) > 4 and firsts == sorted(firsts)
        _contiguous(g)

        # Not asserted here: the on-device decode. Uploading a model (privileged requests)
        # is refused as E_STALE on a quiet host: during the upload the emulated core's clock
        # runs 1-5 s ahead of the host's estimate of it (an open defect, in the README).
