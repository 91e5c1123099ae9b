"""Subcommands for data in and out: import, phantom, report."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from garment.commands.common import CliError


def cmd_import(args: argparse.Namespace) -> int:
    from garment.recordings import RecordingFormatError, import_uci
    from garment.recordings.importer import import_3dc

    src = Path(args.src)
    if not src.is_dir():
        raise CliError(f"{src}: not a folder")
    try:
        if args.dataset == "3dc-gestures":
            written = import_3dc(src, Path(args.out))
        else:
            written = import_uci(src, Path(args.out), keep_duplicates=args.keep_duplicates)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    except RecordingFormatError as e:
        raise CliError(str(e)) from None
    if not written:
        raise CliError(f"{src}: no {args.dataset} files found")
    for p in written:
        print(p)
    return 0


def phantom_recording(result: "object") -> tuple["object", dict[str, np.ndarray]]:
    """A phantom result as a Recording (per-sample truth inside) plus its spike trains."""
    from garment.recordings import Annotation, Recording

    r = result  # PhantomResult
    n = len(r.emg_uV)  # type: ignore[attr-defined]
    truth: dict[str, np.ndarray] = {}
    for k, v in r.truth.items():  # type: ignore[attr-defined]
        if isinstance(v, np.ndarray) and v.shape[:1] == (n,):
            truth[k] = v
    spikes: dict[str, np.ndarray] = {}
    for muscle, trains in (r.truth.get("spikes") or {}).items():  # type: ignore[attr-defined]
        for i, t in enumerate(trains):
            spikes[f"{muscle}/mu{i:03d}"] = np.asarray(t, dtype=np.int64)
    rec = Recording(
        samples=np.asarray(r.emg_uV, dtype=np.float64),  # type: ignore[attr-defined]
        fs=float(r.fs),  # type: ignore[attr-defined]
        channel_names=list(r.channel_names),  # type: ignore[attr-defined]
        units=["uV"] * len(r.channel_names),  # type: ignore[attr-defined]
        annotations=[Annotation(float(a), float(b), str(c)) for a, b, c in r.annotations],  # type: ignore[attr-defined]
        truth=truth,
        meta={"source": "garment phantom", "scenario": str(r.scenario), "seed": str(r.seed)},  # type: ignore[attr-defined]
    )
    return rec, spikes


def cmd_phantom(args: argparse.Namespace) -> int:
    from garment.phantom import generate
    from garment.recordings import write_bdf
    from garment.recordings.atomic import atomic_path

    if round(args.seconds * args.fs) < 2:
        raise CliError(f"--seconds {args.seconds:g} at {args.fs:g} Hz is not even two samples")
    out = Path(args.out)
    result = generate(args.scenario, seconds=args.seconds, fs=args.fs, channels=args.channels, seed=args.seed)
    rec, spikes = phantom_recording(result)
    # the recording first: one that is refused leaves no spikes file behind
    write_bdf(rec, out)  # type: ignore[arg-type]
    spikes_path = out.with_name(out.stem + "_spikes.npz")
    with atomic_path(spikes_path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **spikes)
    print(out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from garment.phantom import write_validation_report

    real = []
    if args.uci:
        from garment.recordings import RecordingFormatError, load_uci
        from garment.recordings.importer import find_uci_files

        files = [p for p in find_uci_files(Path(args.uci)) if p.name.endswith("mar.txt")][:3]
        if not files:
            raise CliError(f"{args.uci}: no UCI gait (mar) recordings found")
        try:
            for p in files:
                rec = load_uci(p)
                emg = rec.select_channels(["RF", "BF", "VM", "ST"])
                real.append((f"UCI {p.stem}", emg.samples, emg.fs))
        except RecordingFormatError as e:
            raise CliError(str(e)) from None
    out = write_validation_report(Path(args.out), real=real or None)
    print(out)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """``garment plot``: a recording as a PNG (traces, spectrogram, annotations, truth)."""
    from garment.plots import plot_recording
    from garment.recordings import RecordingFormatError, read_edf

    src = Path(args.recording)
    try:
        rec = read_edf(src)
    except RecordingFormatError as e:
        raise CliError(str(e)) from None
    if rec.n_samples == 0:
        raise CliError(f"{src}: holds no samples")
    out = Path(args.out) if args.out else src.with_suffix(".png")
    print(plot_recording(rec, out, title=src.name, spectrogram_channel=args.spectrogram))
    return 0
