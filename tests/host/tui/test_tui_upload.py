"""Upload against the simulated garment: progress, verification, activation, rollback."""
from __future__ import annotations

from pathlib import Path

from textual.widgets import ProgressBar
from tui_helpers import connected, logged, press, text_of, wait_for

from garment.paths import repo_root
from garment.tui.app import GarmentApp
from garment.tui.screens.upload import inspect_model

GOLDEN = (repo_root() or Path(".")) / "models" / "golden"


async def test_upload_verify_activate_and_roll_back(sim: object) -> None:
    lda, mlp = GOLDEN / "int8_lda.gmdl", GOLDEN / "int8_mlp.gmdl"
    app = GarmentApp(device=sim.url, start_mode="upload")  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        session = await connected(pilot)
        screen = app.screen
        for path in (lda, mlp):
            screen.select(path)
            assert screen.selected is not None and screen.selected.path == path
            bar = screen.query_one("#upload-progress", ProgressBar)
            seen: list[float] = []
            update = bar.update

            def spy(**kw: object) -> None:
                if kw.get("progress") is not None:
                    seen.append(float(kw["progress"]))  # type: ignore[arg-type]
                update(**kw)  # type: ignore[arg-type]

            bar.update = spy  # type: ignore[method-assign]
            screen.last_verified = None
            await press(pilot, "ctrl+u")
            await wait_for(pilot, lambda: screen.last_verified is not None and not screen.busy, 10, "the upload")
            bar.update = update  # type: ignore[method-assign]
            assert screen.last_verified is True, [e.text for e in app.event_log.entries][-5:]
            size = path.stat().st_size
            assert seen[0] == 0 and seen[-1] == size and len(set(seen)) >= 1 + (size + 511) // 512
            assert seen == sorted(seen) and bar.progress == bar.total == size
            assert logged(app, f"Model {path.name} verified and active")
        active = session.model["active"]
        assert active["size"] == mlp.stat().st_size and active["labels"] == list(inspect_model(mlp).labels)
        # roll back to the LDA model
        await press(pilot, "ctrl+b")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 3, "the rollback dialog")
        await press(pilot, "y")
        await wait_for(pilot, lambda: logged(app, "Rolled back"), 10, "the rollback")
        info = await session.client.model_info()
        assert info["active"]["size"] == lda.stat().st_size
    assert app.internal_errors == []


async def test_a_bad_model_file_is_shown_not_raised(sim: object, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gmdl"
    bad.write_bytes(b"GMDL" + bytes(40))
    app = GarmentApp(device=sim.url, start_mode="upload")  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        await connected(pilot)
        screen = app.screen
        screen.select(bad)
        assert screen.selected is None
        assert "not a usable model" in text_of(screen.query_one("#model-details"))
        await press(pilot, "ctrl+u")
        await wait_for(pilot, lambda: logged(app, "choose a usable model file first"), 3, "the warning")
    assert app.internal_errors == []
