"""Training, quantisation and the float-vs-int8 report on synthetic feature matrices."""
from __future__ import annotations

import math

import numpy as np
import pytest

from garment.contracts import load_contract
from garment.models import (
    QuantizationError,
    agreement_report,
    from_bytes,
    quantize,
    reference,
    train,
)
from garment.models.quantize import quantize_multiplier
from garment.models.report import compare_predictions

mf = load_contract("model_format")
FC = {"fs": 2000, "n_ch": 8, "window": 400, "increment": 100, "features": ["MAV", "WL", "ZC", "SSC", "RMS"],
      "zc_thr": 224, "ssc_thr": 224}


def _data(n: int = 2400, k: int = 4, spread: float = 0.5, seed: int = 0, n_groups: int = 8):
    """EMG-like int features: log-normal amplitudes, 8 ch x 5 features, class-dependent."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, 40)) * spread
    y = rng.integers(0, k, n)
    z = centers[y] + rng.normal(size=(n, 40))
    X = np.round(np.exp(0.6 * z) * rng.uniform(50, 5000, 40)).astype(np.int64)
    return X, y, np.arange(n) * n_groups // n, z


@pytest.mark.parametrize("kind", ["lda", "logreg", "mlp"])
def test_classifiers(kind: str) -> None:
    X, y, g, _ = _data()
    names = np.array(["rest", "ext", "flex", "cocon"])
    tm = train(X, names[y], g, kind, hidden=16, feature_config=FC)
    assert tm.labels == sorted(names.tolist()) and tm.n_folds == 5 and tm.n_groups == 8
    assert 0.6 < tm.cv_accuracy < 1.0
    assert abs(tm.cv_int8_accuracy - tm.cv_accuracy) < 0.01 and tm.cv_agreement > 0.97
    assert abs(tm.int8_accuracy - tm.float_accuracy) < 0.01 and tm.agreement > 0.97
    assert tm.model_size_bytes == len(tm.to_bytes()) < 4096
    assert len(tm.qmodel.layers) == (2 if kind == "mlp" else 1)
    qm = from_bytes(tm.to_bytes(), fs=2000, n_ch=8)
    assert np.array_equal(reference.forward(qm, X), reference.forward(tm.qmodel, X))
    assert "CV accuracy" in tm.summary()


@pytest.mark.parametrize("kind", ["ridge", "mlp"])
def test_regressors(kind: str) -> None:
    X, y, g, z = _data(seed=3)
    angle = 30.0 * z[:, 0] + 10.0 * np.maximum(z[:, 1], 0) + 45.0
    tm = train(X, angle, g, kind, task="regression", hidden=16, feature_config=FC, target_name="knee", units="deg")
    assert tm.metric == "r2" and tm.labels == ["knee"]
    assert tm.cv_accuracy > 0.5 and tm.cv_agreement > 0.99
    assert abs(tm.cv_int8_accuracy - tm.cv_accuracy) < 0.01
    qm = from_bytes(tm.to_bytes())
    assert qm.task == "regression" and qm.units == "deg" and qm.scale > 0
    v = reference.predict(qm, X[:50])
    assert np.max(np.abs(v - tm.float_net.predict(X[:50]))) < 0.02 * np.ptp(angle)
    assert np.array_equal(reference.decide(qm, X[:50]), reference.forward(qm, X[:50])[:, 0])


def test_cross_validation_never_splits_a_group() -> None:
    # Each group is one recording of one class with its own fingerprint: windows of a
    # group are trivially recognisable, new groups are not. Random-window CV would
    # report near-perfect accuracy; group CV must report chance.
    rng = np.random.default_rng(5)
    n_groups, per = 12, 150
    g = np.repeat(np.arange(n_groups), per)
    y = g % 2
    fp = rng.normal(size=(n_groups, 40)) * 3
    X = np.round(1000 + 100 * (fp[g] + rng.normal(size=(len(g), 40)) * 0.3)).astype(np.int64)
    tm = train(X, y, g, "logreg", feature_config=FC)
    assert tm.float_accuracy > 0.95
    assert tm.cv_accuracy < 0.8


def test_fold_missing_a_class() -> None:
    X, y, g, _ = _data(n=1200, k=3, spread=1.0)
    y = y.copy()
    y[g == 0] = 3  # class 3 lives in one group only: some training folds never see it
    tm = train(X, y, g, "lda", feature_config=FC)
    assert tm.labels == ["0", "1", "2", "3"] and tm.qmodel.n_out == 4
    assert tm.cv_agreement > 0.97


def test_binary_models_get_two_logits() -> None:
    X, y, g, _ = _data(k=2)
    for kind in ("lda", "logreg", "mlp"):
        tm = train(X, y, g, kind, hidden=8, feature_config=FC)
        assert tm.qmodel.n_out == 2 and tm.agreement > 0.97


def test_rejection_and_vote() -> None:
    X, y, g, _ = _data(spread=0.3)
    tm = train(X, y, g, "logreg", feature_config=FC, reject_margin=0.5, reject_class=-1, vote=5)
    qm = tm.qmodel
    assert qm.reject_margin == math.ceil(0.5 / qm.scale) and qm.vote == 5
    logits = reference.forward(qm, X)
    best, margin = reference.argmax_margin(logits)
    rejected = reference.reject(best, margin, qm.reject_margin, -1)
    assert 0 < np.mean(rejected == -1) < 0.9
    d = tm.decide(X)
    assert np.array_equal(d, reference.majority_vote(rejected, 5))
    # the float margin and the int margin agree on what is rejected (almost always)
    flo = tm.float_net.forward(X)
    fs = np.sort(flo, axis=1)
    assert np.mean((fs[:, -1] - fs[:, -2] < 0.5) == (rejected == -1)) > 0.97
    assert from_bytes(tm.to_bytes()).reject_margin == qm.reject_margin


def test_train_rejects_bad_input() -> None:
    X, y, g, _ = _data(n=200)
    with pytest.raises(ValueError, match="at least 2 groups"):
        train(X, y, np.zeros(len(y)), "lda")
    with pytest.raises(ValueError, match="unknown classifier"):
        train(X, y, g, "svm")
    with pytest.raises(ValueError, match="lengths differ"):
        train(X, y[:-1], g, "lda")
    with pytest.raises(ValueError, match="no feature configuration"):
        train(X, y, g, "lda").to_bytes()


def test_stim_section_travels() -> None:
    X, y, g, _ = _data(n=600)
    stim = {"preset": "cycling", "params": {"gain": [1, 1, 0.5, 0.5], "ramp_ms": 200}}
    tm = train(X, y, g, "lda", feature_config=FC, stim=stim)
    assert from_bytes(tm.to_bytes()).stim == stim
    with pytest.raises(mf.ModelFormatError, match="unknown stimulation preset"):
        tm.to_bytes(stim={"preset": "max", "params": {}})


def test_quantize_multiplier() -> None:
    for m in (1e-9, 3.7e-5, 0.0123, 0.2499, 0.5, 1.0, 127.0):
        M, n = quantize_multiplier(m, 1)
        assert mf.MULT_MIN <= M <= mf.MULT_MAX
        assert abs(M / 2.0**n - m) <= m * 2.0**-15
    with pytest.raises(QuantizationError, match="too large"):
        quantize_multiplier(0.3, mf.SHIFT_MIN)
    with pytest.raises(QuantizationError, match="too small"):
        quantize_multiplier(1e-15, 1)


def test_quantize_checks_calibration_shape() -> None:
    X, y, g, _ = _data(n=300)
    tm = train(X, y, g, "lda", cv=False)
    with pytest.raises(QuantizationError, match="calibration features shape"):
        quantize(tm.float_net, X[:, :10])


def test_agreement_report() -> None:
    X, y, g, _ = _data(n=800)
    tm = train(X, y, g, "lda", cv=False)
    rep = agreement_report(tm.float_net, tm.qmodel, X, y)
    assert rep.n_windows == 800 and rep.metric == "accuracy" and rep.n_classes == 4
    assert rep.agreement == tm.agreement and rep.int8_score == tm.int8_accuracy
    txt = rep.format()
    assert "identical decisions" in txt and "pp" in txt
    r = compare_predictions("classification", np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1]))
    assert (r.agreement, r.float_score, r.int8_score) == (0.75, 0.75, 0.5)
    r = compare_predictions("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.5]), np.array([1.0, 2, 3]))
    assert r.float_score == 1.0 and r.max_abs_diff == 0.5 and "R^2" in r.format()
    assert set(r.to_dict()) >= {"agreement", "float_score", "int8_score"}
