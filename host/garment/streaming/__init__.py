"""Live streaming of garment data to other programs (Lab Streaming Layer)."""
from __future__ import annotations

from .lsl import EmgOutlet, MarkerOutlet, local_only_config, use_local_only_config

__all__ = ["EmgOutlet", "MarkerOutlet", "local_only_config", "use_local_only_config"]
