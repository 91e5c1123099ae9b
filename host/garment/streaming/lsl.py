"""Lab Streaming Layer outlets: the garment's EMG and its events, for LabRecorder & co.

* :class:`EmgOutlet` publishes a stream of type ``EMG`` whose XML description
  carries ``desc/channels/channel/{label,unit,type}`` (the XDF/LSL metadata
  convention) and ``desc/acquisition/manufacturer``.
* :class:`MarkerOutlet` publishes a string stream of type ``Markers`` for decoder
  decisions and stimulation events.

Timestamps are in the :func:`pylsl.local_clock` domain. For EMG, give the time
of a block's *first* sample (e.g. ``t0 + first_index / fs`` from the device
counter); every sample then gets ``timestamp + i / fs`` explicitly, so the
meaning does not depend on liblsl's chunk-timestamp convention.

Network scope: by default liblsl resolves streams by multicast on the local
network (what a lab wants). Where that is not wanted or not possible -- tests, CI,
sandboxes with no multicast, a laptop on a shared network -- call
:func:`use_local_only_config` *before any other LSL call in the process*: it
writes an ``lsl_api.cfg`` that limits discovery to this machine
(``ResolveScope = machine``, only 127.0.0.1, IPv6 off, ``KnownPeers =
{127.0.0.1}``) and a private ``SessionID`` (streams of other sessions stay
invisible), and points ``LSLAPICFG`` at it. liblsl reads its configuration once,
when first used, so calling it later has no effect.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar
from types import TracebackType

import numpy as np
import pylsl  # type: ignore[import-untyped]

EMG_STREAM_TYPE = "EMG"
MARKER_STREAM_TYPE = "Markers"

_FORMATS = {
    "float32": (pylsl.cf_float32, np.float32),
    "double64": (pylsl.cf_double64, np.float64),
    "int32": (pylsl.cf_int32, np.int32),
    "int16": (pylsl.cf_int16, np.int16),
}


def local_only_config(session_id: str | None = None) -> str:
    """The text of an ``lsl_api.cfg`` that keeps LSL discovery on this machine (see module docs)."""
    sid = session_id or f"garment-{uuid.uuid4().hex[:12]}"
    return (
        "; written by garment.streaming.lsl: discovery limited to this machine\n"
        "[ports]\n"
        "IPv6 = disable\n"
        "[multicast]\n"
        "ResolveScope = machine\n"
        "MachineAddresses = {127.0.0.1}\n"
        "[lab]\n"
        "KnownPeers = {127.0.0.1}\n"
        f"SessionID = {sid}\n"
        "[log]\n"
        "level = -2\n"
    )


def use_local_only_config(directory: str | Path | None = None, session_id: str | None = None,
                          *, force: bool = False) -> Path:
    """Write a machine-local ``lsl_api.cfg`` and point ``LSLAPICFG`` at it; returns its path.

    Must run before the first LSL object of the process is created. If
    ``LSLAPICFG`` is already set it is left alone (returned) unless ``force``.
    """
    current = os.environ.get("LSLAPICFG")
    if current and not force:
        return Path(current)
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="garment-lsl-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lsl_api.cfg"
    path.write_text(local_only_config(session_id), encoding="ascii")
    os.environ["LSLAPICFG"] = str(path)
    return path


#: where liblsl looks for its configuration when ``LSLAPICFG`` names none (in this order)
CONFIG_LOCATIONS = ("lsl_api.cfg", "~/lsl_api/lsl_api.cfg", "/etc/lsl_api/lsl_api.cfg")


def quiet_default_config() -> bool:
    """Without a configuration of the user's own, liblsl logs INFO lines on stderr; give it
    its defaults with errors-only logging instead. A configuration the user has
    (``LSLAPICFG`` or one of :data:`CONFIG_LOCATIONS`) is left in charge, untouched.
    Must run before the first LSL object; returns True if it set the configuration."""
    if os.environ.get("LSLAPICFG") or any(Path(p).expanduser().is_file() for p in CONFIG_LOCATIONS):
        return False
    pylsl.set_config_content("[log]\nlevel = -2\n")
    return True


_O = TypeVar("_O", bound="_Outlet")


class _Outlet:
    """What every outlet of this module shares: the pylsl outlet, consumers, closing."""

    _outlet: pylsl.StreamOutlet | None

    @property
    def outlet(self) -> pylsl.StreamOutlet:
        """The underlying :class:`pylsl.StreamOutlet` (``RuntimeError`` once closed)."""
        if self._outlet is None:
            raise RuntimeError("outlet is closed")
        return self._outlet

    def have_consumers(self) -> bool:
        """True if at least one inlet is connected."""
        return bool(self.outlet.have_consumers())

    def wait_for_consumers(self, timeout: float) -> bool:
        """Block up to ``timeout`` s until an inlet connects; True if one did."""
        return bool(self.outlet.wait_for_consumers(timeout))

    def close(self) -> None:
        """Withdraw the stream from the network."""
        if self._outlet is not None:
            self._outlet = None

    def __enter__(self: _O) -> _O:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class EmgOutlet(_Outlet):
    """An LSL outlet of type ``EMG`` (regular rate) with channel labels, units and types.

    Args:
        name: stream name shown in LabRecorder (e.g. ``"garment EMG"``).
        channel_names, units: one per channel.
        fs: nominal sampling rate in Hz.
        source_id: a stable, unique id of the device (e.g. its serial/BLE address),
            so recorders can re-attach after a restart.
        channel_types: per-channel type (default ``"EMG"`` for all).
        channel_format: ``"float32"`` (default, LSL's usual choice for biosignals),
            ``"double64"``, ``"int32"`` or ``"int16"``.
        manufacturer: written to ``desc/acquisition/manufacturer``.
        chunk_size, max_buffered: passed to :class:`pylsl.StreamOutlet`
            (``max_buffered`` in seconds).
    """

    def __init__(self, name: str, channel_names: Sequence[str], units: Sequence[str], fs: float,
                 source_id: str, *, channel_types: Sequence[str] | None = None,
                 channel_format: str = "float32", manufacturer: str = "garment",
                 chunk_size: int = 0, max_buffered: int = 360) -> None:
        if len(units) != len(channel_names):
            raise ValueError(f"{len(units)} units for {len(channel_names)} channels")
        types = list(channel_types) if channel_types is not None else [EMG_STREAM_TYPE] * len(channel_names)
        if len(types) != len(channel_names):
            raise ValueError(f"{len(types)} channel types for {len(channel_names)} channels")
        if not fs > 0:
            raise ValueError("fs must be positive")
        if channel_format not in _FORMATS:
            raise ValueError(f"channel_format must be one of {sorted(_FORMATS)}")
        fmt, self._dtype = _FORMATS[channel_format]
        self.fs = float(fs)
        self.channel_names = [str(c) for c in channel_names]
        self.units = [str(u) for u in units]
        self.n_channels = len(self.channel_names)
        info = pylsl.StreamInfo(name, EMG_STREAM_TYPE, self.n_channels, self.fs, fmt, source_id)
        desc = info.desc()
        desc.append_child("acquisition").append_child_value("manufacturer", manufacturer)
        chans = desc.append_child("channels")
        for label, unit, ctype in zip(self.channel_names, self.units, types):
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", str(ctype))
        self.info = info
        self._outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(info, chunk_size, max_buffered)


    def push_block(self, samples: np.ndarray, timestamp: float | None = None) -> None:
        """Push ``samples`` (``(n, n_channels)``, physical units).

        ``timestamp`` is the LSL time of the first sample; None means the block
        ends now (first sample at ``local_clock() - (n - 1) / fs``).
        """
        arr = np.asarray(samples)
        if arr.ndim == 1 and self.n_channels == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.n_channels:
            raise ValueError(f"samples shape {arr.shape}; expected (n, {self.n_channels})")
        n = arr.shape[0]
        if n == 0:
            return
        if timestamp is None:
            timestamp = pylsl.local_clock() - (n - 1) / self.fs
        stamps = (float(timestamp) + np.arange(n) / self.fs).tolist()
        self.outlet.push_chunk(np.ascontiguousarray(arr, dtype=self._dtype), stamps)




class MarkerOutlet(_Outlet):
    """An LSL outlet of type ``Markers`` (one string channel, irregular rate) for events.

    Use it for decoder outputs (``"decoder:extend 0.82"``), stimulation events
    (``"stim:on ch=2 mA=12"``), gaps and session markers.
    """

    def __init__(self, name: str, source_id: str) -> None:
        info = pylsl.StreamInfo(name, MARKER_STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string, source_id)
        self.info = info
        self._outlet: pylsl.StreamOutlet | None = pylsl.StreamOutlet(info)


    def push(self, text: str, timestamp: float | None = None) -> None:
        """Push one marker; ``timestamp`` in the :func:`pylsl.local_clock` domain (None = now)."""
        if timestamp is None:
            self.outlet.push_sample([str(text)])
        else:
            self.outlet.push_sample([str(text)], float(timestamp))


