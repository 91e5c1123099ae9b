"""Runs MUniverse's FastIcaCBSS (Negro et al. 2016 convolutive BSS) on one .npy recording.

Executed by bench_decompose.py with the comparator's own interpreter (its own venv); prints one
JSON object: discharges per unit, SIL, CPU and wall seconds.  The package is imported module by
module (its top-level __init__ pulls in torch and container tooling that BSS does not use).
"""
import json
import sys
import time
import types
from pathlib import Path

import numpy as np


def _load_cbss():
    import importlib.util

    spec = importlib.util.find_spec("muniverse")
    root = Path(spec.submodule_search_locations[0])
    for name, sub in (("muniverse", ""), ("muniverse.algorithms", "algorithms"), ("muniverse.evaluation", "evaluation")):
        mod = types.ModuleType(name)
        mod.__path__ = [str(root / sub)] if sub else [str(root)]
        sys.modules[name] = mod
    from muniverse.algorithms.cbss import FastIcaCBSS

    return FastIcaCBSS


def main() -> None:
    emg_path, fs = sys.argv[1], float(sys.argv[2])
    x = np.load(emg_path)  # (channels, samples), band-passed like ours
    FastIcaCBSS = _load_cbss()
    c0, w0 = time.process_time(), time.perf_counter()
    model = FastIcaCBSS(verbose=False)
    spikes, sources, scores = model.fit_predict(x, fs)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    units = []
    sil = np.asarray(scores["sil"])
    for uid in sorted(set(int(u) for u in spikes["unit_id"])):
        t = np.asarray(spikes.loc[spikes["unit_id"] == uid, "sample"], dtype=np.int64)
        units.append({"sil": float(sil[uid]), "discharges": sorted(int(v) for v in t)})
    print(json.dumps({"cpu_s": cpu, "wall_s": wall, "units": units}))


if __name__ == "__main__":
    main()
