"""Device agreement: do the garment's own decoder outputs equal the host reference?

The garment decodes every window of what it samples; it streams its filtered samples
and its decoder outputs (R_DECODER: window end + int32 outputs). For each reported
window the host recomputes the features from the very samples the garment streamed
(features depend only on the samples inside the window) and runs the int8 reference;
the share of windows whose outputs are identical integers is the device agreement.
With ``--device sim`` the recordings are played into the simulated AFE.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from garment.client import GarmentClient, StreamConfig
from garment.dataset import emg_channels, to_microvolts
from garment.features.reference import FeatureConfig, compute_features
from garment.models import reference
from garment.models.modelfile import from_bytes
from garment.protocol import wire
from garment.sim import SimGarment
from garment.sim.feeder import N_INPUTS

class PlaybackSource:
    """Plays recordings (EMG channels, in µV) into the simulated AFE, looping."""

    def __init__(self, recordings: Sequence[Any], fs: int, channels: Sequence[str] | None) -> None:
        from scipy.signal import resample_poly

        parts = []
        for rec in recordings:
            emg = emg_channels(rec, channels)
            x = to_microvolts(emg)
            if int(emg.fs) != fs:
                x = resample_poly(x, fs, int(emg.fs), axis=0)
            parts.append(x)
        x = np.vstack(parts)
        pad = np.zeros((len(x), N_INPUTS))
        pad[:, : x.shape[1]] = x
        self.x = pad.astype(np.float32)
        self.pos = 0

    def next_block(self, n: int) -> np.ndarray:
        idx = (self.pos + np.arange(n)) % len(self.x)
        self.pos += n
        return self.x[idx]


async def measure(g: GarmentClient, model: bytes, seconds: float) -> dict[str, Any]:
    """Stream ``seconds`` and compare every decoder window with the host reference."""
    qm = from_bytes(model)
    if qm.features is None:
        raise ValueError("the model file has no feature configuration")
    cfg = FeatureConfig.from_dict(qm.features)
    samples: dict[int, np.ndarray] = {}
    outputs = []
    await g.start_stream()
    loop = asyncio.get_running_loop()
    t_end = loop.time() + seconds
    while loop.time() < t_end:
        b = await g.next_block(timeout=3)
        for i in range(len(b.data)):
            samples[b.first_index + i] = b.data[i]
        while not g.decoder_outputs.empty():
            outputs.append(g.decoder_outputs.get_nowait())
    await g.stop_stream()
    while not g.decoder_outputs.empty():
        outputs.append(g.decoder_outputs.get_nowait())
    compared = same = 0
    wraps = (min(samples) // wire.COUNTER_MOD) * wire.COUNTER_MOD if samples else 0
    K, S = qm.context, qm.input.context_step
    cache: dict[int, np.ndarray | None] = {}

    def window_features(end: int) -> np.ndarray | None:
        if end not in cache:
            idx = range(end - cfg.window + 1, end + 1)
            ok = all(i in samples for i in idx)
            cache[end] = compute_features(np.stack([samples[i] for i in idx]).astype(np.int64), cfg)[0][0] if ok else None
        return cache[end]

    for o in outputs:
        end = wraps + o.window_end  # both count AFE samples since the configuration
        # a context model's earlier windows end K*S increments back; any sample missing
        # (a gap resets the decoder, or it ran before the stream) -> not comparable
        parts = [window_features(end - k * S * cfg.increment) for k in range(K)]
        if any(p is None for p in parts):
            continue
        host = reference.forward(qm, np.concatenate(parts)[None, :])[0]
        compared += 1
        same += int(np.array_equal(np.asarray(host, dtype=np.int64), np.asarray(o.outputs, dtype=np.int64)))
    return {"windows": compared, "identical": same, "agreement": same / compared if compared else 0.0}


async def device_agreement(
    spec: str, model: bytes, recordings: Sequence[Any], config: FeatureConfig, channels: Sequence[str] | None,
    seconds: float = 10.0,
) -> float:
    """Run the model on a garment (uploading it if it is not the active one) and measure."""
    from garment.auth import ensure_authenticated
    from garment.client import model_id
    from garment.devices import open_device

    # ``sim``: a simulated garment that plays the recordings back into its AFE
    sim = SimGarment(source_factory=lambda fs: PlaybackSource(recordings, fs, channels)) if spec == "sim" else None
    async with open_device(spec, timeout=5, sim=sim) as conn:
        g = conn.client
        await ensure_authenticated(g)  # before the (privileged) configuration
        await g.set_config(StreamConfig(fs=config.fs, channels=config.n_ch))
        info = await g.model_info()
        want = "%08x" % model_id(model)
        active = info.get("active") or {}
        if active.get("crc") != want[-8:] or not info.get("verified"):
            await g.upload_model(model)
        r = await measure(g, model, seconds)
    if not r["windows"]:
        raise RuntimeError("the garment reported no decoder windows to compare")
    return float(r["agreement"])
