"""Subcommands for the decoder: train, evaluate, upload."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from garment.commands.common import CliError


def _recordings(paths: list[str]) -> list[Any]:
    from garment.recordings import RecordingFormatError, read_edf

    recs = []
    for p in paths:
        if not Path(p).is_file():
            raise CliError(f"{p}: no such recording")
        try:
            recs.append(read_edf(p))
        except (RecordingFormatError, OSError) as e:
            raise CliError(str(e)) from None
    return recs


def _config(args: argparse.Namespace, recs: list[Any]) -> Any:
    from garment.dataset import emg_channels
    from garment.features.reference import FeatureConfig

    fs = {int(r.fs) for r in recs}
    if len(fs) != 1:
        raise CliError(f"recordings have different sampling rates: {sorted(fs)}")
    f = fs.pop()
    n_ch = {emg_channels(r, args.channels).n_channels for r in recs}
    if len(n_ch) != 1:
        raise CliError(f"recordings have different EMG channel counts: {sorted(n_ch)}")
    w = int(round(args.window_ms * f / 1000))
    inc = int(round(args.increment_ms * f / 1000))
    try:
        return FeatureConfig.default(f, n_ch.pop(), window=w, increment=inc)
    except ValueError as e:
        raise CliError(str(e)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from garment.dataset import build_windows
    from garment.models.train import train

    recs = _recordings(args.recordings)
    cfg = _config(args, recs)
    try:
        ws = build_windows(recs, cfg, args.channels, args.mains, target=args.target,
                           names=[Path(p).name for p in args.recordings])
    except (ValueError, KeyError) as e:
        raise CliError(str(e)) from None
    if len(ws.X) == 0:
        raise CliError("no labelled windows: recordings need class annotations (or --target)")
    task = "regression" if args.target else "classification"
    if task == "classification" and len(set(ws.labels.tolist())) < 2:
        raise CliError(f"need at least two classes, found {sorted(set(ws.labels.tolist()))}")
    kind = args.kind if task == "classification" else ("ridge" if args.kind == "lda" else args.kind)
    stim = {"preset": args.policy, "params": {}}
    try:
        tm = train(ws.X, ws.labels, ws.groups, kind=kind, task=task, feature_config=cfg, stim=stim,
                   vote=args.vote, target_name=args.target or "y")
    except ValueError as e:
        raise CliError(str(e)) from None
    size = tm.save(Path(args.out), cfg, stim)
    out = {
        "kind": kind, "task": task, "windows": int(len(ws.X)), "groups": int(tm.n_groups),
        "classes": tm.labels, "cv_accuracy": tm.cv_accuracy, "float_accuracy": tm.float_accuracy,
        "int8_accuracy": tm.int8_accuracy, "cv_int8_accuracy": tm.cv_int8_accuracy,
        "agreement": tm.agreement, "cv_agreement": tm.cv_agreement,
        "model_bytes": size, "train_seconds": round(tm.train_seconds, 3),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(tm.summary())
        print(f"saved {args.out}")
    return 0


def _device_agreement(args: argparse.Namespace, model_bytes: bytes, recs: list[Any], ws: Any) -> float:
    """Play the recordings into the garment's AFE and compare its decisions with the host's."""
    import asyncio

    from garment.evaluate_device import device_agreement

    return asyncio.run(device_agreement(args.device, model_bytes, recs, ws.config, args.channels))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from garment.dataset import build_windows
    from garment.features.reference import FeatureConfig
    from garment.models.modelfile import ModelFormatError, from_bytes
    from garment.models.reference import decide

    p = Path(args.model)
    if not p.is_file():
        raise CliError(f"{p}: no such model file")
    data = p.read_bytes()
    try:
        qm = from_bytes(data)
    except ModelFormatError as e:
        raise CliError(f"{p}: {e}") from None
    cfg = FeatureConfig.from_dict(qm.features)
    recs = _recordings(args.recordings)
    ws = build_windows(recs, cfg, args.channels, args.mains)
    labels = list(qm.output_section()["labels"])
    pred_idx = decide(qm, ws.X)
    pred = np.array([labels[i] if 0 <= i < len(labels) else "<rejected>" for i in pred_idx])
    truth = ws.labels
    acc = float(np.mean(pred == truth)) if len(truth) else 0.0
    classes = sorted(set(truth.tolist()) | set(labels))
    cm = [[int(np.sum((truth == a) & (pred == b))) for b in classes] for a in classes]
    recall = {c: (float(np.mean(pred[truth == c] == c)) if np.any(truth == c) else None) for c in classes}
    out: dict[str, Any] = {"accuracy": acc, "recall": recall, "confusion": {"labels": classes, "matrix": cm},
                           "windows": int(len(truth)), "rejected": int(np.sum(pred == "<rejected>"))}
    if args.device:
        out["device_agreement"] = _device_agreement(args, data, recs, ws)
    if getattr(args, "plot", None):
        from garment.plots import plot_confusion

        out["plot"] = str(plot_confusion(classes, cm, Path(args.plot), title=f"{p.name} on {len(recs)} recording(s)"))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"accuracy {100 * acc:.2f}% over {len(truth)} windows")
        for c in classes:
            r = recall[c]
            print(f"  {c:20s} recall {'n/a' if r is None else f'{100 * r:.1f}%'}")
        if "device_agreement" in out:
            print(f"device agreement {100 * out['device_agreement']:.2f}%")
        if "plot" in out:
            print(f"confusion matrix: {out['plot']}")
    return 0


async def _upload(args: argparse.Namespace) -> dict[str, Any]:
    from garment.auth import ensure_authenticated
    from garment.devices import connect

    from garment.client import StreamConfig
    from garment.models.modelfile import from_bytes

    data = Path(args.model).read_bytes()
    feats = from_bytes(data).features
    async with connect(args.device, timeout=5) as g:
        await ensure_authenticated(g)
        cfg = await g.get_config()
        if (cfg.fs, cfg.channels) != (feats["fs"], feats["n_ch"]):
            # the model is only valid at the rate and channel count it was trained for
            await g.set_config(StreamConfig(feats["fs"], feats["n_ch"], cfg.mains, cfg.kind, cfg.highpass, cfg.notch))
            if not args.json:
                print(f"garment reconfigured to {feats['fs']} Hz x {feats['n_ch']} channels for this model")

        def progress(done: int, total: int) -> None:
            if not args.json:
                print(f"\ruploading {done}/{total} bytes", end="", flush=True)

        info = await g.upload_model(data, progress=progress)
    if not args.json:
        print()
    return info


def cmd_upload(args: argparse.Namespace) -> int:
    import asyncio

    from garment.models.modelfile import ModelFormatError, from_bytes

    p = Path(args.model)
    if not p.is_file():
        raise CliError(f"{p}: no such model file")
    try:
        from_bytes(p.read_bytes())  # refuse a broken file before it reaches the garment
    except ModelFormatError as e:
        raise CliError(f"{p}: {e}") from None
    info = asyncio.run(_upload(args))
    if args.json:
        print(json.dumps(info))
    else:
        a = info.get("active") or {}
        print(f"active model: {a.get('task')} {a.get('labels')} ({a.get('size')} bytes, crc {a.get('crc')}); "
              f"previous kept: {'yes' if info.get('previous') else 'no'}")
    return 0
