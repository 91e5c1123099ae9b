"""Deterministic stand-ins for the snapshot tests: a garment client that answers from
fixed values, a discovery with fixed devices, and a session filled with phantom EMG of
a fixed seed (no background tasks, a frozen clock)."""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from garment.client import (
    Calibration,
    DecoderOutput,
    DeviceError,
    Limits,
    Pulse,
    SampleBlock,
    Status,
    StimState,
    StreamConfig,
    StreamStats,
)
from garment.protocol import wire
from garment.tui.discovery import DeviceEntry, Discovery
from garment.tui.session import GarmentSession

LSB_FV = 22351742  # the simulated AFE's LSB in femtovolts
INFO = {"board": "sim", "version": "0.1.0", "protocol": 1, "afe": "ADS1299 (register-level model)",
        "channels": 8, "fs": 2000, "lsb_fv": LSB_FV, "uid": "sim-snapshot",
        "montage": ["L_RF", "L_VL", "L_BF", "L_ST", "R_RF", "R_VL", "R_BF", "R_ST"]}
IDLE = StimState("idle", "none", 0, 0, (0,) * 8)


class FakeTransport:
    name = "socket://127.0.0.1:7300"
    rssi = None


class FakeClient:
    """Answers like a garment without one: fixed info, status and stimulation state.

    ``estop_error`` makes ``estop()`` fail as a firmware without the request would.
    """

    def __init__(self, stim: StimState | None = IDLE, estop_error: DeviceError | None = None) -> None:
        self.transport = FakeTransport()
        self.timeout = 1.0
        self.listeners: list[Any] = []
        self.stats = StreamStats(samples=4000, packets=200)
        self.events: list[Any] = []
        self.last_status: Status | None = Status(61_234, "streaming", True, 0, 0, 0, 0, 0, 3950, 122_468)
        self.last_stim_state = stim
        self.closed_reason: str | None = None
        self.signer = None
        self.pulses: asyncio.Queue[Pulse] = asyncio.Queue()
        self.decoder_outputs: asyncio.Queue[DecoderOutput] = asyncio.Queue()
        self.estop_error = estop_error
        self.estops = 0
        self.calibrations: dict[int, Calibration] = {}
        self.on_stim_state: Any = None  # the session's, called with every state "sent" as GarmentClient does

    def _reply(self, st: StimState) -> StimState:
        self.last_stim_state = st
        if self.on_stim_state is not None:
            self.on_stim_state(st, False)
        return st

    async def info(self) -> dict[str, Any]:
        return dict(INFO)

    async def get_config(self) -> StreamConfig:
        return StreamConfig()

    async def start_stream(self) -> None:
        pass

    async def stop_stream(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self, token: int = 0) -> int:
        return token

    async def status(self) -> Status:
        assert self.last_status is not None
        return self.last_status

    async def stim_state(self) -> StimState:
        if self.last_stim_state is None:
            raise DeviceError(wire.E_UNKNOWN_TYPE, "unknown request type 0x29")
        return self._reply(self.last_stim_state)

    async def estop(self) -> StimState:
        self.estops += 1
        if self.estop_error is not None:
            raise self.estop_error
        return self._reply(StimState("fault", "estop", 0, 0, (0,) * 8))

    async def model_info(self) -> dict[str, Any]:
        return {"active": {"crc": "2144df1c", "size": 915, "task": "classification", "labels": ["active", "rest"],
                           "n_in": 48, "n_out": 2, "stim": None},
                "verified": True, "problem": None, "previous": None, "upload": None}

    async def get_calibration(self, channel: int) -> Calibration:
        return self.calibrations.get(channel, Calibration(channel, 0, 0, 0, 0, 0, 0))

    async def get_limits(self) -> Limits:
        return Limits(50000, 500, 10, 100, 25000, 20000, 500, 5000, 3600, 2000000)


class FakeDiscovery(Discovery):
    """No hardware, no BLE transport, the simulated garment used last time."""

    def __init__(self, ports: list[DeviceEntry] | None = None, ble: bool = False,
                 last: str | None = "sim") -> None:
        self.ports = ports or []
        self.ble = ble
        self.last = last

    def serial_ports(self) -> list[DeviceEntry]:
        return list(self.ports)

    def ble_status(self) -> tuple[bool, str]:
        if self.ble:
            return True, "Scan for BLE garments"
        return False, "BLE unavailable: this build has no BLE transport"

    async def ble_scan(self, timeout: float = 5.0) -> list[DeviceEntry]:
        return [DeviceEntry("ble:C0:FF:EE:00:00:01", "garment C0:FF:EE:00:00:01", "RSSI -58 dBm", "ble")]

    def last_device(self) -> str | None:
        return self.last


def phantom_blocks(seconds: float = 2.0, seed: int = 3, block: int = 20) -> list[SampleBlock]:
    """Phantom cycling EMG (fixed seed) as the garment would send it (int codes)."""
    from garment.phantom import PhantomStream

    fs = 2000
    ps = PhantomStream("cycling", fs=fs, channels=8, seed=seed)
    uV = ps.next_block(int(seconds * fs))
    codes = np.round(np.asarray(uV, dtype=np.float64) / (LSB_FV / 1e9)).astype(np.int32)
    return [SampleBlock(i, codes[i : i + block], wire.STREAM_FILTERED) for i in range(0, len(codes), block)]


def snapshot_session(client: FakeClient | None = None, stimulating: bool = True) -> GarmentSession:
    """A session with 2 s of phantom EMG, decoder outputs, pulses and a frozen clock."""
    client = client or FakeClient()
    session = GarmentSession(client, "sim", dict(INFO), StreamConfig(), url="socket://127.0.0.1:7300",
                             clock=lambda: 100.0)  # type: ignore[arg-type]
    for b in phantom_blocks():
        session.ingest_block(b)
    session.rate_sps = 1999.0
    session.rtt_ms = 3.0
    session.model_labels = ["active", "rest"]
    session.model = {"active": {"labels": ["active", "rest"]}}
    for i, label in enumerate([1, 1, 0, 0, 0, 1, -1, 0, 0, 1, 1, 1]):
        session.ingest_decoder(DecoderOutput(400 + 100 * i, label, (120 - 40 * label, -80 + 40 * label)))
    if stimulating and client.last_stim_state is not None and client.last_stim_state.state != "fault":
        st = StimState("stimulating", "none", 0b00010001, 0, (12500, 0, 0, 0, 9000, 0, 0, 0))
        session.ingest_stim_state(st)
        for k in range(35):
            session.ingest_pulse(Pulse(1000 * k, 0, 12500, 300, 50), now=99.5)
            session.ingest_pulse(Pulse(1000 * k + 500, 4, 9000, 300, 50), now=99.5)
    elif client.last_stim_state is not None:
        session.ingest_stim_state(client.last_stim_state)
    return session
