"""Subcommands for the decoder: train, evaluate, upload."""
from __future__ import annotations

import argparse
import json
import sys
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


def _rate(rec: Any) -> int:
    return int(round(float(rec.fs)))


def _config(args: argparse.Namespace, recs: list[Any]) -> Any:
    from garment.dataset import emg_channels
    from garment.features.reference import FeatureConfig

    by_rate: dict[int, list[str]] = {}
    for p, r in zip(args.recordings, recs):
        by_rate.setdefault(_rate(r), []).append(Path(p).name)
    if len(by_rate) != 1:
        parts = "; ".join(f"{fs} Hz: {', '.join(names)}" for fs, names in sorted(by_rate.items()))
        raise CliError(f"recordings have different sampling rates ({parts})")
    f = next(iter(by_rate))
    try:
        n_ch = {emg_channels(r, args.channels).n_channels for r in recs}
    except (KeyError, ValueError) as e:
        raise CliError(str(e)) from None
    if len(n_ch) != 1:
        raise CliError(f"recordings have different EMG channel counts: {sorted(n_ch)}")
    w = int(round(args.window_ms * f / 1000))
    inc = int(round(args.increment_ms * f / 1000))
    try:
        return FeatureConfig.default(f, n_ch.pop(), window=w, increment=inc, features=tuple(args.features))
    except ValueError as e:
        raise CliError(str(e)) from None


def _content_id(rec: Any) -> str:
    """Content id of a recording's samples (flags scoring on what a model was trained on, also
    when the same samples come in another file)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(rec.samples, dtype="<f8").tobytes())
    h.update(repr(float(rec.fs)).encode())
    return h.hexdigest()[:16]


def _warn(args: argparse.Namespace, msg: str, warnings: list[str]) -> None:
    warnings.append(msg)
    if not args.json:
        print(f"garment: warning: {msg}", file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:
    from garment.dataset import build_windows, emg_channels
    from garment.models.cv import choose_groups, describe
    from garment.models.train import HOST_ONLY, host_only_cv, train

    task = "regression" if args.target else "classification"
    kind = args.kind if task == "classification" else ("ridge" if args.kind == "lda" else args.kind)
    host_only = kind in HOST_ONLY
    if host_only and task != "classification":
        raise CliError(f"--kind {kind} is a host-side classifier; regression takes ridge or mlp")
    if not host_only and not args.out:
        raise CliError("--out is required: the model file to write")
    recs = _recordings(args.recordings)
    cfg = _config(args, recs)
    ctx = (args.context, args.context_step)
    filters = (True, True)
    try:
        ws = build_windows(recs, cfg, args.channels, args.mains, target=args.target,
                           names=[Path(p).name for p in args.recordings], context=ctx, filters=filters,
                           full_context=True)
    except (ValueError, KeyError) as e:
        raise CliError(str(e)) from None
    if len(ws.X) == 0:
        raise CliError("no labelled windows: recordings need class annotations (or --target)")
    if task == "classification" and len(set(ws.labels.tolist())) < 2:
        raise CliError(f"need at least two classes, found {sorted(set(ws.labels.tolist()))}")
    warnings: list[str] = []
    try:
        groups, scheme, warn = choose_groups(ws.labels, ws.groups, args.cv, args.cv_blocks) if task == "classification" \
            else (ws.groups, "recording", None)
    except ValueError as e:
        raise CliError(str(e)) from None
    if warn:
        _warn(args, warn, warnings)
    if task == "regression" and len(np.unique(groups)) < 2:
        groups, scheme = choose_groups(np.zeros(len(groups)), ws.groups, "blocks", args.cv_blocks)[:2]
    cv_how = describe(groups, scheme, args.cv_blocks)
    if host_only:
        try:
            score = host_only_cv(ws.X, ws.labels, groups, kind, cfg, context=ctx)
        except ValueError as e:
            raise CliError(str(e)) from None
        res = {"kind": kind, "task": task, "runs_on_garment": False, "windows": int(len(ws.X)),
               "cv": cv_how, "cv_accuracy": score, "features": list(cfg.features), "context": list(ctx),
               "warnings": warnings}
        if args.json:
            print(json.dumps(res))
        else:
            print(f"{kind} (host-side comparison only: cannot run on the garment, no model file written)")
            print(f"  CV {cv_how}: accuracy {100 * score:.2f}%")
        return 0
    stim = {"preset": args.policy, "params": {}}
    try:
        tm = train(ws.X, ws.labels, groups, kind=kind, task=task, feature_config=cfg, stim=stim,
                   vote=args.vote, target_name=args.target or "y", reject_margin=args.reject_margin,
                   hidden=args.hidden, context=ctx)
    except ValueError as e:
        raise CliError(str(e)) from None
    chans = emg_channels(recs[0], args.channels).channel_names
    tm.qmodel.info.update({
        "channels": list(chans), "mains": args.mains, "filters": {"highpass": filters[0], "notch": filters[1]},
        "trained_on": {Path(p).name: _content_id(r) for p, r in zip(args.recordings, recs)}, "cv": cv_how,
    })
    size = tm.save(Path(args.out), cfg, stim)
    out = {
        "kind": kind, "task": task, "runs_on_garment": True, "windows": int(len(ws.X)), "groups": int(tm.n_groups),
        "cv": cv_how, "classes": tm.labels, "features": list(cfg.features), "context": list(ctx),
        "cv_accuracy": tm.cv_accuracy, "float_accuracy": tm.float_accuracy,
        "int8_accuracy": tm.int8_accuracy, "cv_int8_accuracy": tm.cv_int8_accuracy,
        "agreement": tm.agreement, "cv_agreement": tm.cv_agreement,
        "model_bytes": size, "train_seconds": round(tm.train_seconds, 3), "warnings": warnings,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"cross-validation {cv_how}")
        print(tm.summary())
        print(f"saved {args.out}")
    return 0


def _device_agreement(args: argparse.Namespace, model_bytes: bytes, recs: list[Any], ws: Any,
                      channels: list[str] | None) -> float:
    """Play the recordings into the garment's AFE and compare its decisions with the host's."""
    import asyncio

    from garment.evaluate_device import device_agreement

    return asyncio.run(device_agreement(args.device, model_bytes, recs, ws.config, channels))


def _from_model(name: str, given: Any, stored: Any) -> Any:
    """A setting the model was trained with: the model's own, or refused if the user's differs."""
    if stored is None:
        return given
    if given is not None and given != stored:
        raise CliError(f"the model was trained with {name} {stored}, not {given}: leave {name} out to use the model's")
    return stored


def _null_class(args: argparse.Namespace, labels: list[str]) -> str | None:
    if args.null_class is not None:
        if args.null_class not in labels:
            raise CliError(f"--null-class {args.null_class!r} is not one of the model's classes {labels}")
        return str(args.null_class)
    for c in ("rest", "no_motion", "none", "0"):
        if c in labels:
            return c
    return None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from garment.dataset import build_windows
    from garment.features.reference import FeatureConfig
    from garment.models.metrics import REJECTED, offline_metrics
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
    if qm.task != "classification":
        raise CliError(f"{p}: a {qm.task} model; evaluate scores classifiers")
    cfg = FeatureConfig.from_dict(qm.features)
    info = qm.info or {}
    channels = _from_model("--channels", args.channels, info.get("channels"))
    mains = _from_model("--mains", args.mains, info.get("mains"))
    mains = 50 if mains is None else mains
    flt = info.get("filters") or {}
    filters = (bool(flt.get("highpass", True)), bool(flt.get("notch", True)))
    recs = _recordings(args.recordings)
    names = [Path(q).name for q in args.recordings]
    try:
        ws = build_windows(recs, cfg, channels, mains, names=names,
                           context=(qm.context, qm.input.context_step), filters=filters)
    except (ValueError, KeyError) as e:
        raise CliError(str(e)) from None
    if len(ws.X) == 0:
        raise CliError("no labelled windows to score: the recordings carry no class annotations")
    warnings: list[str] = []
    seen = info.get("trained_on") or {}
    ids = set(seen.values()) if isinstance(seen, dict) else set()
    overlap = [n for n, r in zip(names, recs) if _content_id(r) in ids]
    if overlap:
        _warn(args, f"the model was trained on {', '.join(overlap)}: scores on them are not held-out scores",
              warnings)
    labels = list(qm.output_section()["labels"])
    pred_idx = np.concatenate([decide(qm, ws.X[ws.groups == g]) for g in np.unique(ws.groups)])  # a fresh decoder per recording
    order = np.concatenate([np.flatnonzero(ws.groups == g) for g in np.unique(ws.groups)])
    pred = np.empty(len(ws.X), dtype=object)
    pred[order] = [labels[i] if 0 <= i < len(labels) else REJECTED for i in pred_idx]
    pred = pred.astype(str)
    truth = ws.labels
    acc = float(np.mean(pred == truth))
    classes = sorted(set(truth.tolist()) | set(labels))
    cm = [[int(np.sum((truth == a) & (pred == b))) for b in classes] for a in classes]
    recall = {c: (float(np.mean(pred[truth == c] == c)) if np.any(truth == c) else None) for c in classes}
    null = _null_class(args, labels)
    metrics = offline_metrics(truth, pred, null, streams=ws.groups)
    out: dict[str, Any] = {"accuracy": acc, "recall": recall, "confusion": {"labels": classes, "matrix": cm},
                           "windows": int(len(truth)), "rejected": int(np.sum(pred == REJECTED)),
                           "metrics": metrics, "null_class": null, "channels": channels, "mains": mains,
                           "trained_on": overlap, "warnings": warnings}
    if args.device:
        out["device_agreement"] = _device_agreement(args, data, recs, ws, channels)
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
        print("  " + "  ".join(f"{k} {'n/a' if v is None else f'{100 * v:.2f}%'}" for k, v in metrics.items()))
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
