"""Short rides of the simulated garment (real firmware) on the rider model: stimulation
reaches the rider only as delivered pulses, and helps when it is timed right. Rides run on
the garment's virtual clock in lockstep with the rider (one ride on the wall clock)."""
from __future__ import annotations

import json

import pytest

from garment.cli import main
from garment.rider.session import ride

SECONDS = 12.0


@pytest.fixture(scope="module")
def voluntary() -> dict:
    out, _ = ride("voluntary", 60.0, SECONDS / 60.0)
    return out


def test_voluntary_ride_delivers_no_pulse(voluntary: dict) -> None:
    assert voluntary["pulses"] == 0 and voluntary["charge_mc"] == 0
    assert voluntary["power_w"] > 5.0
    assert voluntary["mean_cadence_rpm"] < 58.0  # the weak rider cannot hold 60 rpm alone


def test_emg_triggered_assist_helps_the_rider(voluntary: dict) -> None:
    out, rider = ride("emg", 60.0, SECONDS / 60.0)
    assert out["garment_fault"] == "none", out.get("garment_events")
    assert out["pulses"] > 50
    assert out["stim_power_w"] > 2.0, out
    assert out["cadence_error_rpm"] < voluntary["cadence_error_rpm"], (out, voluntary)
    assert 0 < out["charge_per_joule_mc"] < 1.0 and out["fatigue"] > 0


def test_ride_cli_prints_one_json_object_and_a_plot(tmp_path, capsys) -> None:
    png = tmp_path / "ride.png"
    rc = main(["ride", "--controller", "effectiveness", "--minutes", str(8 / 60), "--json", "--plot", str(png)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for k in ("power_w", "cadence_error_rpm", "charge_per_joule_mc", "fatigue"):
        assert isinstance(out[k], float), k
    assert out["pulses"] > 0 and png.stat().st_size > 10_000


def test_a_wall_clock_ride_still_works() -> None:
    out, _ = ride("emg-timing", 60.0, 6 / 60, clock="wall")
    assert out["clock"] == "wall"
    assert out["pulses"] > 20 and out["duration_s"] >= 5.9


def test_ride_cli_refuses_bad_arguments(capsys) -> None:
    assert main(["ride", "--controller", "tetanus"]) == 2
    assert "unknown controller" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # refused while parsing, before any garment starts
        main(["ride", "--controller", "cpg", "--cadence", "500"])
    assert e.value.code == 2 and "rpm" in capsys.readouterr().err


def test_a_ride_with_the_withdrawal_reflex_on_rides_through_without_a_stop() -> None:
    out, _ = ride("unb-opensim", 60.0, 8 / 60, reflex=True)
    p = out["policy"]["params"]
    assert p["reflex"] == 1 and p["reflex_z"] == [0, 1, 2, 3]
    assert out["garment_fault"] == "none" and out["pulses"] > 100, out.get("garment_events")
    assert out["stim_gaps"] == 0, out  # quiet pedalling: no false stop
    with pytest.raises(ValueError, match="stimulating"):
        ride("voluntary", 60.0, 1 / 60, reflex=True)


def test_a_pause_in_the_pulses_counts_as_a_stop() -> None:
    from garment.rider.rider import STIM_GAP_S, Rider

    r = Rider(60)
    for t in (1.0, 1.1, 1.1 + STIM_GAP_S - 0.01, 1.1 + 2 * STIM_GAP_S + 0.1, 1.1 + 2 * STIM_GAP_S + 0.2):
        r.pulse(t, 0, 10.0, 300.0)
    assert r.summary()["stim_gaps"] == 1
