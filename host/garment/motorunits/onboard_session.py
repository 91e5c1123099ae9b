"""Motor units decoded on the simulated HD garment itself, read over BLE (or USB).

``garment motorunits --device ble:sim-hd --on-garment``: the garment is plugged in once (USB):
it is provisioned and the person's guided baseline is recorded raw from its 64 channels; the
host decomposes it and makes the garment's filters (:mod:`.onboard_filters`: a channel subset,
a short delay line, int16).  Then the garment goes wireless: over BLE (the host's real bleak
code, the bumble stack, only the radio simulated) the host sets the stream kind to motor units
(``wire.STREAM_MU``), uploads the filters (``T_MU_UNIT``, authenticated), plays the task into
the 64 electrodes and reads the ``R_MU_ACTIVITY`` packets: the garment's own discharges.

On the phantom each garment unit is scored against the truth (RoA, +-1 ms, best lag, one-to-one),
against the calibration's own separation filters (64 channels, the host's float apply), against
the same subset filter in floating point and against its integer twin on the host.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np

from garment.decomposition.agreement import match_to_truth, rate_of_agreement
from garment.protocol.wire import wire

from .onboard import GarmentUnit, decode_activity, spec, stage_discharges, stage_sources
from .onboard_filters import DELAYS, N_SUB, ExportedUnit, export_units, float_discharges, garment_filtered
from .playback import GridFeed
from .source import PhantomHDSource

__all__ = ["on_garment_session", "read_activity", "upload_units"]

#: Raw 64 channels x 2048 Hz as 16-bit samples, what the activity packets stand in for (bytes/s).
RAW_16BIT_BYTES_S = 64 * 2048 * 2


async def upload_units(g: Any, units: list[GarmentUnit]) -> None:
    """Replace the garment's filter set with ``units`` (``T_MU_CLEAR``, then ``T_MU_UNIT`` each; signed).

    Raises:
        garment.client.DeviceError: the garment refused one (its reason: a budget, a field).
    """
    await g.request(wire.T_MU_CLEAR, b"", privileged=True)
    for u in units:
        await g.request(wire.T_MU_UNIT, u.body(), privileged=True)


async def read_activity(g: Any, afe0: int, n: int, margin: int, timeout: float = 5.0) -> tuple[list[list[int]], dict[str, Any]]:
    """Collect ``R_MU_ACTIVITY`` until the garment has covered AFE samples ``afe0 .. afe0 + n + margin``.

    Returns per slot the discharges as samples from ``afe0`` (those within ``0 .. n``) and the
    link's account: packets, body bytes, samples covered, gaps (samples no packet covered)."""
    mask = wire.COUNTER_MASK
    half = 1 << 29
    trains: dict[int, list[int]] = {}
    packets = nbytes = covered = gaps = 0
    end = None
    while True:
        body = await asyncio.wait_for(g.mu_activity.get(), timeout)
        a = decode_activity(body)
        rel0 = ((a.first - afe0 + half) & mask) - half
        if end is not None and rel0 > end:
            gaps += rel0 - end
        end = rel0 + a.n_samples
        if end > 0:
            packets += 1
            nbytes += len(body)
            covered += min(a.n_samples, end)
        for unit, idx in a.discharges:
            r = ((idx - afe0 + half) & mask) - half
            if 0 <= r < n:
                trains.setdefault(unit, []).append(r)
        if end >= n + margin:
            break
    units = max(trains, default=-1) + 1
    return [sorted(trains.get(k, [])) for k in range(units)], {
        "packets": packets, "bytes": nbytes, "samples_covered": covered, "gap_samples": gaps}


def _roa(a: np.ndarray, b: np.ndarray, fs: float) -> float | None:
    if a.size == 0 and b.size == 0:
        return None
    return round(float(rate_of_agreement(a, b, fs)[0]), 4)


async def on_garment_session(source: PhantomHDSource, *, link: str = "ble", n_sub: int = N_SUB, delays: int = DELAYS,
                             max_units: int = spec.MAX_UNITS, min_roa: float = 0.8) -> dict[str, Any]:
    """The session (see the module doc); ``link`` ``ble`` (``ble:sim-hd``) or ``usb`` (``sim-hd``)."""
    from garment.auth import ensure_authenticated
    from garment.decomposition import decompose
    from garment.decomposition.apply import apply_decomposition
    from garment.devices import open_device
    from garment.sim import SimGarment

    from .calibrate import CalibrationError
    from .garment_session import HD_INPUTS, check_baseline_loss, stream_recording

    base = source.baseline()
    live = source.live
    fs = int(base.fs)
    labels = base.layout.labels()
    idle = base.emg_uV[: fs // 2]  # the person at rest

    def new_feed(_fs: int) -> GridFeed:
        # A fresh one for every feeder (each (re)start of the garment has its own): its sample
        # count is what the feeder's AFE mapping counts from.
        f = GridFeed(fs, HD_INPUTS)
        f.set_idle(idle)
        return f

    sim = SimGarment(hd=True, source_factory=new_feed)
    try:
        await asyncio.to_thread(sim.start)
        # Plugged in once: provisioned, the baseline recorded raw (64 channels need the wire).
        async with open_device("sim-hd", timeout=10.0, sim=sim) as conn:
            g = conn.client
            info = await g.info()
            if int(info.get("channels", 0)) != HD_INPUTS or int(info.get("fs", 0)) != fs:
                raise RuntimeError(f"the HD garment streams {info.get('channels')} ch at {info.get('fs')} Hz, "
                                   f"the phantom is {HD_INPUTS} ch at {fs} Hz")
            lsb_uV = float(info["lsb_fv"]) / 1e9
            montage = list(info.get("montage") or labels)
            perm = np.array([montage.index(lb) for lb in labels])  # streamed column of each grid electrode
            await ensure_authenticated(g)
            cfg = await g.get_config()
            await g.set_config(dataclasses.replace(cfg, kind=wire.STREAM_RAW, highpass=False, notch=False))
            feeder: Any = conn.sim.feeder  # type: ignore[union-attr]
            xb, _, dropped_b = await stream_recording(g, feeder, await _feed_of(feeder), base.emg_uV, lsb_uV, perm)
        check_baseline_loss(dropped_b, base.emg_uV.shape[0])
        dec = await asyncio.to_thread(decompose, xb, float(fs), labels)
        if not dec.units:
            raise CalibrationError("the baseline gave no motor unit: hold a steady contraction (10-30 % of maximum)")
        codes = np.empty(xb.shape, np.float64)
        codes[:, perm] = np.rint(xb / lsb_uV)  # the garment's channel order, AFE codes
        xf = await asyncio.to_thread(garment_filtered, codes, fs, cfg.mains)
        exported: list[ExportedUnit] = await asyncio.to_thread(
            export_units, xf, [u.discharges for u in dec.units], fs, max_units=max_units, n_sub=n_sub,
            delays=delays, min_roa=min_roa)
        if not exported:
            raise CalibrationError(f"none of the {len(dec.units)} units has a garment filter ({n_sub} ch x {delays} "
                                   f"delays) agreeing with the decomposition at RoA >= {min_roa} on the baseline")
        units = [e.unit for e in exported]
        if link == "ble":
            sim.wired = False  # unplugged: from now on the garment is reached over BLE only
            await asyncio.to_thread(sim.restart)
        spec_dev = "ble:sim-hd" if link == "ble" else "sim-hd"
        async with open_device(spec_dev, timeout=10.0, sim=sim) as conn:
            g = conn.client
            feeder = conn.sim.feeder  # type: ignore[union-attr]
            feed = await _feed_of(feeder)
            await ensure_authenticated(g)
            cfg = await g.get_config()
            await g.set_config(dataclasses.replace(cfg, kind=wire.STREAM_MU, highpass=True, notch=True))
            await upload_units(g, units)
            offsets0 = feeder.offset_changes
            await g.start_stream()
            try:
                with feeder.source_lock:
                    feed.play(live.emg_uV)
                if not await asyncio.to_thread(feed.started.wait, 10.0):
                    raise RuntimeError("the feeder did not start the task")
                off = feeder.afe_offset
                if off is None or feed.trial_start is None:
                    raise RuntimeError("the AFE's sample mapping is not known yet")
                afe0 = (feeder.source_base + feed.trial_start + off) & wire.COUNTER_MASK
                n = live.emg_uV.shape[0]
                margin = max(u.refractory + u.lag for u in units) + spec.interval_samples(fs)
                trains, acct = await read_activity(g, afe0, n, margin)
            finally:
                await g.stop_stream()
            acct["offset_changes"] = feeder.offset_changes - offsets0
            acct["link"] = conn.url
            acct["board"] = info.get("board")
            acct["baseline_dropped"] = int(dropped_b)
    finally:
        await asyncio.to_thread(sim.stop)
    return _score(source, dec, exported, trains, acct, codes_live=_codes(live.emg_uV, perm, lsb_uV), fs=fs,
                  mains=cfg.mains, baseline_s=xb.shape[0] / fs, apply=apply_decomposition)


async def _feed_of(feeder: Any) -> GridFeed:
    """The feeder's current source (set at its first report from the garment)."""
    def wait() -> bool:
        with feeder.progress:  # notified at every report
            return bool(feeder.progress.wait_for(lambda: isinstance(feeder.source, GridFeed), 10.0))

    if not await asyncio.to_thread(wait):
        raise RuntimeError("the garment's feeder has no source yet")
    return feeder.source  # type: ignore[no-any-return]


def _codes(uv: np.ndarray, perm: np.ndarray, lsb_uV: float) -> np.ndarray:
    c = np.empty(uv.shape, np.float64)
    c[:, perm] = np.rint(uv / lsb_uV)
    return c


def _score(source: PhantomHDSource, dec: Any, exported: list[ExportedUnit], trains: list[list[int]],
           acct: dict[str, Any], *, codes_live: np.ndarray, fs: int, mains: int, baseline_s: float,
           apply: Any) -> dict[str, Any]:
    live = source.live
    n = live.emg_uV.shape[0]
    got = [np.asarray(trains[k] if k < len(trains) else [], np.int64) for k in range(len(exported))]
    xl = garment_filtered(codes_live, fs, mains)
    units = [e.unit for e in exported]
    src = stage_sources(units, xl)
    twin = [stage_discharges(src[k], u.threshold, u.refractory, u.lag) for k, u in enumerate(units)]
    floats = [float_discharges(e, xl) for e in exported]
    calib = apply(dec, live.emg_uV, float(fs))
    pairs = {i: (j, r) for i, j, r in match_to_truth(got, source.truth(), float(fs))}
    rows = []
    for k, e in enumerate(exported):
        j, r = pairs.get(k, (None, None))
        rows.append({
            "unit": k, "decomposition_unit": e.source_unit, "channels": e.unit.channels, "taps": e.unit.taps,
            "baseline_roa": round(e.baseline_roa, 4), "discharges": int(got[k].size), "truth_unit": j,
            "roa_truth": None if r is None else round(r, 4),
            "roa_calibration_filters": _roa(calib[e.source_unit], got[k], fs),
            "roa_host_float": _roa(floats[k], got[k], fs),
            "roa_host_int": _roa(twin[k], got[k], fs),
        })

    def med(key: str) -> float | None:
        v = [float(r[key]) for r in rows if r[key] is not None]  # type: ignore[arg-type]
        return None if not v else float(np.median(v))

    seconds = n / fs
    taps = sum(u.taps for u in units)
    return {
        "units": rows, "fs": fs, "seconds": round(seconds, 3),
        "roa_truth_median": med("roa_truth"), "roa_calibration_filters_median": med("roa_calibration_filters"),
        "roa_host_float_median": med("roa_host_float"), "roa_host_int_median": med("roa_host_int"),
        "calibration": {"seconds": round(baseline_s, 3), "units_decomposed": len(dec.units),
                        "units_on_garment": len(exported), "taps": taps,
                        "instructions_per_s": spec.instructions_per_s(fs, codes_live.shape[1], taps, len(units))},
        "stream": {**acct, "bytes_per_s": round(acct["bytes"] / seconds, 1),
                   "raw_16bit_bytes_per_s": RAW_16BIT_BYTES_S},
    }
