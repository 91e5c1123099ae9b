"""The plot of a ride: cadence against its target, the crank torque of the rider's own
muscles and of stimulation, and the stimulated muscles' fatigue."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .rider import Rider


def plot_ride(rider: Rider, path: str | Path, title: str = "") -> None:
    """Write the ride's plot (PNG) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = np.array(rider.stats.trace).reshape(-1, 5)
    fig, ax = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    t = tr[:, 0]
    ax[0].plot(t, tr[:, 1], lw=0.8, label="cadence")
    ax[0].axhline(rider.target_rpm, color="k", ls="--", lw=0.8, label="target")
    ax[0].set_ylabel("rpm")
    ax[0].legend(loc="lower right")
    k = max(1, int(round(1.0 / max(t[1] - t[0], 1e-3)))) if len(t) > 1 else 1  # 1 s means
    n = len(t) // k * k
    if n:
        tm = t[:n].reshape(-1, k).mean(1)
        ax[1].plot(tm, tr[:n, 3].reshape(-1, k).mean(1), label="rider's own muscles")
        ax[1].plot(tm, tr[:n, 2].reshape(-1, k).mean(1), label="stimulation")
    ax[1].set_ylabel("crank torque (N m, 1 s mean)")
    ax[1].legend(loc="upper right")
    ax[2].plot(t, tr[:, 4])
    ax[2].set_ylabel("fatigue (force capacity drop)")
    ax[2].set_xlabel("s")
    ax[0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
