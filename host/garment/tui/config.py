"""Where the companion app keeps things: settings (last device), calibration profiles,
recordings and trained models, all under the user's platformdirs folders.

Paths are computed at call time so that ``XDG_*`` overrides (tests) take effect.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import platformdirs

from garment.recordings.atomic import atomic_write_text

APP = "garment"


def config_dir() -> Path:
    """The user's configuration folder for the companion (``~/.config/garment``)."""
    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """The user's data folder (profiles, recordings, models)."""
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def log_dir() -> Path:
    """Where the app writes its diagnostic log (tracebacks of internal errors)."""
    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def settings_path() -> Path:
    return config_dir() / "tui.json"


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def load_settings() -> dict[str, Any]:
    """The saved settings, or ``{}`` when there are none (or they are unreadable)."""
    try:
        data = json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_settings(**changes: Any) -> None:
    """Merge ``changes`` into the saved settings (written atomically)."""
    data = load_settings()
    data.update(changes)
    _atomic_write(settings_path(), json.dumps(data, indent=1) + "\n")


def last_device() -> str | None:
    """The device the user last connected to successfully."""
    dev = load_settings().get("last_device")
    return dev if isinstance(dev, str) and dev else None


def remember_device(spec: str) -> None:
    save_settings(last_device=spec)


# ---- profiles ------------------------------------------------------------------------
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file-name-safe version of a subject / profile name (never empty)."""
    s = _SAFE.sub("_", name.strip()).strip("._")
    return s or "default"


def profiles_dir() -> Path:
    return data_dir() / "profiles"


def profile_path(subject: str) -> Path:
    return profiles_dir() / f"{safe_name(subject)}.json"


def save_profile(subject: str, profile: dict[str, Any]) -> Path:
    """Save a calibration profile (JSON, atomically); returns its path."""
    path = profile_path(subject)
    data = {"subject": subject, "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **profile}
    _atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def load_profile(subject: str) -> dict[str, Any] | None:
    try:
        data = json.loads(profile_path(subject).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recordings_dir() -> Path:
    return data_dir() / "recordings"


def models_dir() -> Path:
    return data_dir() / "models"


def stamp() -> str:
    """A local timestamp for file names (``20250101-120000``)."""
    return time.strftime("%Y%m%d-%H%M%S")
