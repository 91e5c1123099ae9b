"""End to end: the simulated HD garment decodes motor units itself and sends them over BLE.

``garment motorunits --device ble:sim-hd --on-garment``: the baseline over USB, the filters
uploaded and the discharges read over the host's real BLE code on the bumble stack (only the
radio simulated); scored on the phantom's truth and against the host's own filters.
"""
from __future__ import annotations

import json

from garment.motorunits.onboard_session import RAW_16BIT_BYTES_S


def test_cli_on_garment_refusals(capsys):
    from garment.cli import main

    assert main(["motorunits", "--device", "ble:sim-hd", "--json"]) == 2
    assert "add --on-garment" in capsys.readouterr().err
    assert main(["motorunits", "--device", "phantom-hd", "--on-garment", "--json"]) == 2
    assert "needs the simulated HD garment" in capsys.readouterr().err
    assert main(["motorunits", "--device", "ble:sim-hd", "--on-garment", "--drive", "sim", "--json"]) == 2
    assert "no stimulator" in capsys.readouterr().err


def test_hd_garment_sends_its_motor_units_over_ble(capsys):
    from garment.cli import main

    assert main(["motorunits", "--device", "ble:sim-hd", "--on-garment", "--calibrate-seconds", "6",
                 "--seconds", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    st = out["stream"]
    assert st["board"] == "sim-hd" and "virtual radio" in st["link"]  # BLE, not the wired link
    n = int(4 * out["fs"])
    assert st["gap_samples"] == 0 and st["samples_covered"] >= n  # every sample's interval reported
    assert st["bytes_per_s"] * 100 < RAW_16BIT_BYTES_S  # discharges, not 64 raw channels
    units = out["units"]
    assert units and out["calibration"]["units_on_garment"] == len(units)
    assert all(u["discharges"] > 0 for u in units)
    # the garment computes what its integer twin on the host computes (filter start-up aside)
    assert out["roa_host_int_median"] >= 0.95
    assert out["roa_truth_median"] >= 0.85
    assert out["roa_calibration_filters_median"] >= 0.8
