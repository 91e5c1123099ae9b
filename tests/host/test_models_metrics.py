"""LibEMG's offline metrics, CV groups that score every class, leave-one-subject-out selection."""
from __future__ import annotations

import numpy as np
import pytest

from garment.models.cv import block_groups, choose_groups, unscorable_classes
from garment.models.metrics import offline_metrics
from garment.models.selection import Candidate, loso_select


def test_offline_metrics_as_libemg_defines_them() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    dec = np.array([0, -1, 1, 2, 2, 2, 0, 0])  # one rejected
    m = offline_metrics(truth, dec, null_class=0)
    assert m["REJ_RATE"] == pytest.approx(1 / 8)
    kept_t, kept_d = truth[dec != -1], dec[dec != -1]
    assert m["CA"] == pytest.approx(np.mean(kept_t == kept_d))  # 5 of 7
    active = kept_d != 0  # decisions 1, 2, 2, 2: one wrong
    assert m["AER"] == pytest.approx(np.mean(kept_t[active] != kept_d[active])) == pytest.approx(0.25)
    assert m["INS"] == pytest.approx(np.mean(kept_d[1:] != kept_d[:-1]))
    # streams: the jump between two recordings is not instability
    m2 = offline_metrics(np.array(["a", "a", "b", "b"]), np.array(["a", "a", "b", "b"]), streams=[0, 0, 1, 1])
    assert m2["INS"] == 0.0 and m2["AER"] is None and m2["CA"] == 1.0
    with pytest.raises(ValueError, match="no windows"):
        offline_metrics(np.array([]), np.array([]))


def test_cv_groups_score_every_class() -> None:
    rec = np.repeat([0, 1, 2], 50)  # three recordings, one class each
    labels = np.repeat(["rest", "flex", "ext"], 50)
    assert unscorable_classes(labels, rec) == ["ext", "flex", "rest"]
    g, used, warn = choose_groups(labels, rec, "auto", 5)
    assert used == "blocks" and warn is None and unscorable_classes(labels, g) == []
    assert block_groups(rec, 5).tolist()[:11] == [0] * 10 + [1]
    g, used, warn = choose_groups(labels, rec, "recording", 5)
    assert used == "recording" and "cannot score class(es) ext, flex, rest" in warn
    mixed = np.tile(["rest", "flex"], 75)  # every recording holds both classes: by recording is fine
    assert choose_groups(mixed, rec, "auto")[1] == "recording"


def test_loso_select_never_uses_the_scored_subject() -> None:
    a, b = Candidate("lda", ("MAV",)), Candidate("mlp", ("MAV",))
    # b is far better on s3 alone: s3 is still scored with a (best on s1 and s2), while s1
    # and s2 get b (s3's 1.0 outweighs the 0.1 they lose), each scored with its own value
    scores = {a: {"s1": 0.9, "s2": 0.9, "s3": 0.5}, b: {"s1": 0.8, "s2": 0.8, "s3": 1.0}}
    picks = loso_select(scores)
    assert picks["s3"] == (a, 0.5) and picks["s1"] == (b, 0.8)
    picks = loso_select(scores, exclude=lambda s, t: {s, t} == {"s1", "s3"})
    assert picks["s1"] == (a, 0.9)  # s3 (sharing recordings with s1) kept out of s1's choice: only s2 speaks


def test_candidates_name_their_regularisation_and_pass_it_to_training() -> None:
    from garment.models.selection import ALL_FEATURES, MLP_ALPHA, default_candidates
    from garment.models.train import _make_estimator

    plain = Candidate("mlp", ALL_FEATURES, 4, 2)
    strong = Candidate("mlp", ALL_FEATURES, 4, 2, hidden=64, vote=5, alpha=1.0)
    assert plain.estimator_params == {} and plain.name == "mlp32 all11 ctx4x2"
    assert strong.estimator_params == {"alpha": 1.0} and strong.name == "mlp64 a1 all11 ctx4x2 vote5"
    assert strong.trained == Candidate("mlp", ALL_FEATURES, 4, 2, hidden=64, alpha=1.0) != plain.trained
    assert Candidate("lda", ALL_FEATURES, alpha=1.0).estimator_params == {}  # LDA has no alpha
    est = _make_estimator("mlp", "classification", 64, 0, strong.estimator_params)
    assert est.alpha == 1.0 and _make_estimator("mlp", "classification", 32, 0, {}).alpha == MLP_ALPHA
    lda = _make_estimator("lda", "classification", 32, 0, {})
    assert (lda.solver, lda.shrinkage) == ("lsqr", "auto")  # shrinkage covariance by default
    names = [c.name for c in default_candidates()]
    assert len(names) == len(set(names)) and {"lda all11 ctx4x2", "mlp64 a1 all11 vote9", "lda td5"} <= set(names)


def test_extended_grid_adds_named_lda_cells_to_the_shared_grid() -> None:
    from garment.models.selection import AMP_AR, default_candidates, extended_candidates

    base, ext = default_candidates(), extended_candidates()
    names = [c.name for c in ext]
    assert ext[:len(base)] == base and len(names) == len(set(names))
    extra = ext[len(base):]
    assert extra and all(c.kind == "lda" for c in extra)
    assert {"lda amp+ar ctx3x2", "lda amp+ar vote9", "lda all11 ctx6x1 vote5", "lda amp+ar+cr ctx3x2",
            "lda amp+cr ctx3x2 vote5"} <= set(names)
    assert "ZC" not in AMP_AR and "SSC" not in AMP_AR and len(AMP_AR) == 9
    assert not any(f.startswith("CR") for c in base for f in c.features)  # the UCI grid is unchanged
