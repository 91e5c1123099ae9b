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
