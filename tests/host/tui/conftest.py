"""Fixtures of the companion-app tests: isolated user folders, one simulated garment per
module, and helpers to wait on conditions (never fixed sleeps)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tui_fakes.py, tui_helpers.py


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One per session: a simulated garment keeps the secret it was provisioned with.
    return tmp_path_factory.mktemp("secrets")


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets_dir: Path) -> Path:
    """platformdirs folders (settings, profiles, recordings, models, logs) in tmp_path."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("GARMENT_SECRETS_DIR", str(secrets_dir))
    return tmp_path


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    """A simulated garment (real firmware on the unix port) shared by a module's tests."""
    from garment.sim import SimGarment

    s = SimGarment()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def fast_timings() -> Any:
    from garment.tui.app import Timings

    return Timings(countdown_s=0, rest_s=0.5, mvc_s=0.5, ramp_step_s=0.1)
