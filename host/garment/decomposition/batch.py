"""Many recordings at once on Dask: a local cluster by default, any Dask scheduler by address.

Each recording is one task (read, decompose, estimate properties, write TSV/JSON/PNG); the
workers must see the recordings and the output folder (a shared filesystem on a cluster).
Progress is drawn on stderr as tasks finish, so ``--json`` output stays clean on stdout.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from .decompose import DecompositionOptions


def decompose_file(path: str, out_dir: str, options: DecompositionOptions | None = None,
                   properties: bool = True) -> dict[str, Any]:
    """Decompose one recording and write ``<stem>_motorunits.tsv``/``.json``/``.png`` into ``out_dir``."""
    from threadpoolctl import threadpool_limits

    from .decompose import decompose
    from .io import load_grid_recording, summary, write_json, write_tsv
    from .report import write_report

    rec = load_grid_recording(path)
    with threadpool_limits(1):  # one core per recording: Dask runs several side by side
        dec = decompose(rec.emg, rec.fs, rec.labels, options)
        if properties:
            from .properties import estimate_properties

            estimate_properties(dec, rec.layout)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(path).stem
    write_tsv(dec, out / f"{stem}_motorunits.tsv")
    write_json(dec, out / f"{stem}_motorunits.json", str(path))
    write_report(dec, rec.layout, out / f"{stem}_motorunits.png", title=f"{Path(path).name} ({rec.layout.name} grid)")
    return summary(dec, str(path))


def _bar(done: int, total: int, width: int = 30) -> None:
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\rdecompose [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def decompose_many(paths: Sequence[str], out_dir: str, scheduler: str | None = None,
                   options: DecompositionOptions | None = None, progress: bool = True,
                   properties: bool = True) -> list[dict[str, Any]]:
    """Run :func:`decompose_file` for every path on Dask; summaries in the order of ``paths``.

    ``scheduler`` is a Dask scheduler address (``tcp://host:8786``); None starts a local
    in-process cluster with one worker thread per core (numpy releases the GIL).
    Errors of one recording are raised after the others finished, naming the file.
    """
    import os

    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client = Client(scheduler, timeout="10s")
        cluster = None
    else:
        cluster = LocalCluster(n_workers=1, threads_per_worker=max(1, min(len(paths), os.cpu_count() or 1)),
                               processes=False, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = {client.submit(decompose_file, str(p), str(out_dir), options, properties, pure=False): i
                   for i, p in enumerate(paths)}
        results: list[Any] = [None] * len(paths)
        errors: list[str] = []
        done = 0
        if progress:
            _bar(0, len(paths))
        for fut in as_completed(list(futures)):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as e:  # report every failing file, not only the first
                errors.append(f"{paths[i]}: {e}")
            done += 1
            if progress:
                _bar(done, len(paths))
        if errors:
            raise RuntimeError("; ".join(errors))
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
