"""Train a decoder with scikit-learn, cross-validate it by group, quantise it to int8.

``train(features, labels, groups, kind=...)`` fits a standardised float model (LDA,
logistic regression or a one-hidden-layer ReLU MLP for classification; ridge or an
MLP for regression), cross-validates it with :class:`~sklearn.model_selection.GroupKFold`
over ``groups`` (recording / repetition ids: windows of one group never appear on both
sides of a split), quantises every fold's model as the device would run it, and
reports float and int8 scores and their agreement. The final model is fitted on all
windows and quantised; :meth:`TrainedModel.to_bytes` gives the model file.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from garment.models import modelfile, reference
from garment.models.quantize import FloatNet, QuantizedModel, float_net_from_sklearn, quantize
from garment.models.report import AgreementReport, compare_predictions

CLASSIFIERS = ("lda", "logreg", "mlp")
#: scikit-learn classifiers for host-side comparison only: they have no int8 form and
#: cannot run on the garment (no model file is written for them).
HOST_ONLY = ("svm", "rf", "knn", "qda", "gnb")
#: The decoder's defaults, chosen by leave-one-subject-out model selection on the UCI
#: lower-limb subjects and the 3DC participants in shared/data
#: (benchmarks/bench_decoder_uci.py --select, benchmarks/bench_decoder_3dc.py --select).
#: AR1..AR4 (best on both data sets, at 1 kHz) are left out of the default: with them 8 ch x
#: 2 kHz does not fit the reference board's CPU budget (garmentfw/budget.py refuses the model).
DEFAULT_FEATURES = ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4")
DEFAULT_CONTEXT = (4, 2)
REGRESSORS = ("ridge", "mlp")
#: Amplitude features (heavy-tailed, spanning decades): log2-companded by default.
AMPLITUDE_FEATURES = ("MAV", "WL", "RMS", "M2", "M4")


@dataclass
class TrainedModel:
    """A trained decoder: float model, int8 model, and how well both do.

    ``metric`` is "accuracy" (classification) or "r2" (regression). ``cv_*`` are
    pooled over the held-out windows of all group folds; ``float_score``,
    ``int8_score`` and ``agreement`` are those of the final model on all windows.
    """

    kind: str
    task: str
    labels: list[str]
    float_net: FloatNet
    qmodel: QuantizedModel
    estimator: Any
    scaler: StandardScaler
    metric: str
    cv: AgreementReport
    full: AgreementReport
    n_folds: int
    n_groups: int
    model_size_bytes: int
    train_seconds: float
    fold_scores: list[float] = field(default_factory=list)

    @property
    def cv_accuracy(self) -> float | None:
        """Cross-validated float accuracy (classification) / R^2 (regression)."""
        return self.cv.float_score

    @property
    def cv_int8_accuracy(self) -> float | None:
        """Cross-validated int8 accuracy / R^2."""
        return self.cv.int8_score

    @property
    def cv_agreement(self) -> float:
        """Share of held-out windows with identical float and int8 decisions (R^2 for regression)."""
        return self.cv.agreement

    @property
    def float_accuracy(self) -> float | None:
        """Final float model's accuracy / R^2 on all windows."""
        return self.full.float_score

    @property
    def int8_accuracy(self) -> float | None:
        """Final int8 model's accuracy / R^2 on all windows."""
        return self.full.int8_score

    @property
    def agreement(self) -> float:
        """Final model's float-vs-int8 agreement on all windows."""
        return self.full.agreement

    def predict_int8(self, X: np.ndarray) -> np.ndarray:
        """Per-window int8 predictions (class indices, or values in real units)."""
        return reference.predict(self.qmodel, X)

    def decide(self, X: np.ndarray) -> np.ndarray:
        """What the device returns window by window (rejection and vote applied)."""
        return reference.decide(self.qmodel, X)

    def to_bytes(self, feature_config: Any = None, stim: dict[str, Any] | None = None) -> bytes:
        """The model file (feature configuration and stimulation section may be given here)."""
        qm = self.qmodel
        if feature_config is not None:
            qm.features = feature_config.to_dict() if hasattr(feature_config, "to_dict") else dict(feature_config)
        if stim is not None:
            qm.stim = dict(stim)
        return modelfile.to_bytes(qm)

    def save(self, path: Any, feature_config: Any = None, stim: dict[str, Any] | None = None) -> int:
        """Write the model file atomically; returns its size in bytes."""
        self.to_bytes(feature_config, stim)  # validates and applies the sections
        return modelfile.write_model(path, self.qmodel)

    def summary(self) -> str:
        """Human-readable summary of the training run."""
        m = "accuracy" if self.metric == "accuracy" else "R^2"
        def f(v: float | None) -> str:
            if v is None:
                return "n/a"
            return f"{100 * v:.2f}%" if self.metric == "accuracy" else f"{v:.4f}"

        return (
            f"{self.kind} {self.task}: {self.n_folds}-fold group CV over {self.n_groups} groups\n"
            f"  CV {m} float {f(self.cv_accuracy)}  int8 {f(self.cv_int8_accuracy)}  "
            f"agreement {f(self.cv_agreement) if self.metric == 'accuracy' else f'{self.cv_agreement:.4f}'}\n"
            f"  all windows: float {f(self.float_accuracy)}  int8 {f(self.int8_accuracy)}\n"
            f"  model file {self.model_size_bytes} bytes, trained in {self.train_seconds:.2f} s"
        )


def host_only_estimator(kind: str, seed: int = 0) -> Any:
    """A host-side scikit-learn classifier (one of :data:`HOST_ONLY`), standardised inputs."""
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    make = {
        "svm": lambda: SVC(C=1.0, kernel="rbf", gamma="scale"),
        "rf": lambda: RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1),
        "knn": lambda: KNeighborsClassifier(n_neighbors=5),
        "qda": lambda: QuadraticDiscriminantAnalysis(reg_param=0.1),
        "gnb": lambda: GaussianNB(),
    }
    if kind not in make:
        raise ValueError(f"unknown host-side classifier {kind!r} (one of {', '.join(HOST_ONLY)})")
    return make_pipeline(StandardScaler(), make[kind]())


def host_only_cv(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, kind: str, feature_config: Any = None,
    n_splits: int = 5, context: tuple[int, int] = (1, 1),
) -> float:
    """Group-cross-validated accuracy of a host-only classifier on the decoder's inputs
    (the same integer features, log2-companded like the garment's decoder)."""
    X = np.asarray(features)
    K = int(context[0])
    fdict = feature_config.to_dict() if hasattr(feature_config, "to_dict") else feature_config
    mask = log_feature_mask("auto", X.shape[1] // K, fdict)
    if mask is not None and K > 1:
        mask = np.tile(mask, K)
    Xt = reference.transform_features(X, mask).astype(np.float64)
    y = np.asarray(labels)
    g = np.asarray(groups)
    n_folds = min(n_splits, len(np.unique(g)))
    if n_folds < 2:
        raise ValueError(f"group cross-validation needs at least 2 groups, got {len(np.unique(g))}")
    pred = np.empty(len(y), dtype=y.dtype)
    with threadpool_limits(limits=1, user_api="blas"):
        for tr, te in GroupKFold(n_splits=n_folds).split(Xt, y, g):
            pred[te] = host_only_estimator(kind).fit(Xt[tr], y[tr]).predict(Xt[te])
    return float(np.mean(pred == y))


def _make_estimator(kind: str, task: str, hidden: int, seed: int, params: dict[str, Any]) -> Any:
    if task == "classification":
        if kind == "lda":
            # Ledoit-Wolf shrinkage of the pooled covariance: tens to hundreds of correlated
            # inputs (channels x features x context windows) from a few thousand windows
            return LinearDiscriminantAnalysis(**{"solver": "lsqr", "shrinkage": "auto", **params})
        if kind == "logreg":
            return LogisticRegression(**{"C": 1.0, "max_iter": 500, **params})
        if kind == "mlp":
            return MLPClassifier(
                **{
                    "hidden_layer_sizes": (hidden,),
                    "activation": "relu",
                    "alpha": 1e-3,
                    "learning_rate_init": 1e-2,
                    "batch_size": 512,
                    "max_iter": 40,
                    "tol": 1e-4,
                    "n_iter_no_change": 5,
                    "random_state": seed,
                    **params,
                }
            )
        raise ValueError(f"unknown classifier kind {kind!r} (one of {', '.join(CLASSIFIERS)})")
    if task == "regression":
        if kind == "ridge":
            return Ridge(**{"alpha": 1.0, **params})
        if kind == "mlp":
            return MLPRegressor(
                **{
                    "hidden_layer_sizes": (hidden,),
                    "activation": "relu",
                    "alpha": 1e-3,
                    "learning_rate_init": 1e-2,
                    "batch_size": 512,
                    "max_iter": 40,
                    "tol": 1e-4,
                    "n_iter_no_change": 5,
                    "random_state": seed,
                    **params,
                }
            )
        raise ValueError(f"unknown regressor kind {kind!r} (one of {', '.join(REGRESSORS)})")
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")


def _fit_float(
    Xt: np.ndarray, y: np.ndarray, kind: str, task: str, labels: list[str], hidden: int, seed: int,
    params: dict[str, Any], log_mask: np.ndarray | None,
) -> tuple[FloatNet, Any, StandardScaler]:
    # Xt: features after the integer input transform (what the device quantises).
    scaler = StandardScaler().fit(Xt)
    Z = scaler.transform(Xt)
    if kind == "mlp" and "batch_size" not in params:
        params = {**params, "batch_size": min(512, len(Z))}  # small sets: one batch, no sklearn warning
    est = _make_estimator(kind, task, hidden, seed, params)
    y_mean, y_std = 0.0, 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if task == "regression" and kind == "mlp":
            y_mean, y_std = float(y.mean()), float(y.std()) or 1.0
            est.fit(Z, (y - y_mean) / y_std)
        else:
            est.fit(Z, y)
    if task == "regression":
        return float_net_from_sklearn(scaler, est, task, labels, y_mean, y_std, log_mask), est, scaler
    present = [int(c) for c in est.classes_]
    net = float_net_from_sklearn(scaler, est, task, [labels[c] for c in present], log_mask=log_mask)
    if len(present) < len(labels):
        # A fold without windows of some class (groups are often single-class
        # recordings): that class gets a zero row and a bias 50 logits below the
        # others, so it is never chosen, and the outputs stay in label order.
        last = net.layers[-1]
        W = np.zeros((len(labels), last.weight.shape[1]))
        b = np.full(len(labels), float(last.bias.min()) - 50.0)
        W[present] = last.weight
        b[present] = last.bias
        last.weight, last.bias = W, b
        net.labels = list(labels)
    return net, est, scaler


def log_feature_mask(log_features: Any, n_in: int, features: dict[str, Any] | None) -> np.ndarray | None:
    """Which input columns get the integer log2 transform.

    ``"auto"``: the amplitude features (MAV, WL, RMS, M2, M4) of every channel when the feature
    configuration is known (channel-major layout), none otherwise; ``True``/``False``:
    all / none; or an explicit boolean sequence of length ``n_in``.
    """
    if isinstance(log_features, str):
        if log_features != "auto":
            raise ValueError(f"log_features must be 'auto', a bool or a mask, got {log_features!r}")
        if features is None:
            return None
        names = list(features.get("features", []))
        mask = np.array([nm in AMPLITUDE_FEATURES for _ in range(int(features["n_ch"])) for nm in names])
        if len(mask) != n_in:
            raise ValueError(f"feature configuration describes {len(mask)} columns, features have {n_in}")
        return mask if mask.any() else None
    if isinstance(log_features, (bool, np.bool_)):
        return np.full(n_in, True) if log_features else None
    mask = np.asarray(log_features, dtype=bool)
    if mask.shape != (n_in,):
        raise ValueError(f"log_features mask has shape {mask.shape}, expected ({n_in},)")
    return mask if mask.any() else None


def _placeholder_features(n_in: int) -> dict[str, Any]:
    return {"fs": 1000, "n_ch": 1, "window": 200, "increment": 50, "features": [f"f{i}" for i in range(n_in)]}


def train(
    features: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    kind: str = "lda",
    *,
    task: str = "classification",
    hidden: int = 32,
    n_splits: int = 5,
    feature_config: Any = None,
    stim: dict[str, Any] | None = None,
    reject_margin: float = 0.0,
    reject_class: int = -1,
    vote: int = 1,
    target_name: str = "y",
    units: str = "",
    clip_percentile: tuple[float, float] = (0.1, 99.9),
    seed: int = 0,
    cv: bool = True,
    estimator_params: dict[str, Any] | None = None,
    blas_threads: int | None = 1,
    log_features: Any = "auto",
    context: tuple[int, int] = (1, 1),
) -> TrainedModel:
    """Train, group-cross-validate and quantise a decoder.

    Args:
        features: int feature rows (n_windows, n_in), as the device computes them.
        labels: class label per window (any hashable; classification) or target value
            (regression, e.g. knee angle in degrees).
        groups: recording / repetition id per window; cross-validation never splits a
            group (GroupKFold with ``min(n_splits, n_groups)`` folds).
        kind: "lda", "logreg" or "mlp" (classification); "ridge" or "mlp" (regression).
        task: "classification" or "regression".
        hidden: hidden units of the MLP (one ReLU hidden layer).
        feature_config: the features contract's FeatureConfig (or its dict), embedded
            in the model file.
        stim: the stimulation policy section ({"preset": ..., "params": {...}}).
        reject_margin: rejection threshold on the logit margin (top1 - top2), float
            logit units; 0 disables. reject_class: the decision for rejected windows.
        vote: majority vote over the last ``vote`` decisions (1 = off).
        target_name, units: regression output name and units.
        clip_percentile: calibration range of each input feature for int8.
        log_features: which features pass through the device's integer log2 transform
            before standardisation ("auto": MAV, WL, RMS, M2 and M4 when ``feature_config`` is
            given; True / False; or a boolean mask over the columns). The float model
            is trained on the transformed integers, so the transform adds no skew.
        context: temporal context ``(K, S)``: each row of ``features`` is K windows, S
            apart (:func:`garment.models.reference.stack_context`); the device keeps
            the same ring of its last int8 input vectors.
        cv: run the group cross-validation (False: fit the final model only).
        estimator_params: extra keyword arguments for the scikit-learn estimator.
        blas_threads: BLAS threads while training (default 1: these matrices are
            small, and threads fighting over busy cores make training 10-30x slower);
            None leaves the BLAS default.

    Returns:
        TrainedModel with cross-validated and final float/int8 scores, agreement and
        the model file size.
    """
    if blas_threads is None:
        return _train(features, labels, groups, kind, task, hidden, n_splits, feature_config, stim, reject_margin,
                      reject_class, vote, target_name, units, clip_percentile, seed, cv, estimator_params,
                      log_features, context)
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _train(features, labels, groups, kind, task, hidden, n_splits, feature_config, stim, reject_margin,
                      reject_class, vote, target_name, units, clip_percentile, seed, cv, estimator_params,
                      log_features, context)


def _train(
    features: Any, labels: Any, groups: Any, kind: str, task: str, hidden: int, n_splits: int, feature_config: Any,
    stim: dict[str, Any] | None, reject_margin: float, reject_class: int, vote: int, target_name: str, units: str,
    clip_percentile: tuple[float, float], seed: int, cv: bool, estimator_params: dict[str, Any] | None,
    log_features: Any, context: tuple[int, int] = (1, 1),
) -> TrainedModel:
    t0 = time.perf_counter()
    X = np.asarray(features)
    if X.ndim != 2:
        raise ValueError(f"features must be 2-D (windows, n_in), got shape {X.shape}")
    n = X.shape[0]
    g = np.asarray(groups)
    if len(g) != n or len(labels) != n:
        raise ValueError(f"{n} feature rows, {len(labels)} labels and {len(g)} groups: lengths differ")
    params = dict(estimator_params or {})
    if task == "classification":
        classes, y = np.unique(np.asarray(labels), return_inverse=True)
        label_names = [str(c) for c in classes]
        if len(classes) < 2:
            raise ValueError("classification needs at least 2 classes")
    elif task == "regression":
        y = np.asarray(labels, dtype=np.float64)
        label_names = [target_name]
    else:
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    _make_estimator(kind, task, hidden, seed, params)  # validates kind early
    fdict = None
    if feature_config is not None:
        fdict = feature_config.to_dict() if hasattr(feature_config, "to_dict") else dict(feature_config)
    K = int(context[0])
    if K < 1 or X.shape[1] % K:
        raise ValueError(f"{X.shape[1]} feature columns are not {K} context windows")
    mask = log_feature_mask(log_features, X.shape[1] // K, fdict)
    if mask is not None and K > 1:
        mask = np.tile(mask, K)
    Xt = reference.transform_features(X, mask).astype(np.float64)
    qopts: dict[str, Any] = dict(
        clip_percentile=clip_percentile,
        reject_margin=reject_margin,
        reject_class=reject_class,
        vote=vote,
        units=units,
        context=(K, int(context[1])),
    )

    uniq = np.unique(g)
    n_folds = min(n_splits, len(uniq))
    fold_scores: list[float] = []
    fp_all = np.zeros(n, dtype=np.float64 if task == "regression" else np.int64)
    qp_all = np.zeros_like(fp_all)
    if cv:
        if n_folds < 2:
            raise ValueError(f"group cross-validation needs at least 2 groups, got {len(uniq)}")
        for tr, te in GroupKFold(n_splits=n_folds).split(X, y, g):
            net, _, _ = _fit_float(Xt[tr], y[tr], kind, task, label_names, hidden, seed, params, mask)
            qm = quantize(net, X[tr], **qopts)
            fp_all[te] = net.predict(X[te])
            qp_all[te] = reference.predict(qm, X[te])
            fold = compare_predictions(task, fp_all[te], qp_all[te], y[te])
            fold_scores.append(float(fold.float_score or 0.0))
        cv_rep = compare_predictions(task, fp_all, qp_all, y, len(label_names) if task == "classification" else None)
    net, est, scaler = _fit_float(Xt, y, kind, task, label_names, hidden, seed, params, mask)
    info = {"trainer": "garment.models.train", "kind": kind, "n_windows": int(n), "n_groups": int(len(uniq))}
    qm = quantize(net, X, features=fdict, stim=stim, info=info, **qopts)
    full = compare_predictions(
        task, net.predict(X), reference.predict(qm, X), y, len(label_names) if task == "classification" else None
    )
    if not cv:
        cv_rep = full
        n_folds = 0
    if task == "classification":
        qm.info["cv_accuracy"] = round(float(cv_rep.float_score or 0.0), 4)
        qm.info["cv_int8_accuracy"] = round(float(cv_rep.int8_score or 0.0), 4)
    if qm.features is None:
        tmp = qm.features
        qm.features = _placeholder_features(qm.n_in)
        size = len(modelfile.to_bytes(qm))  # close estimate: the real config is a similar size
        qm.features = tmp
    else:
        size = len(modelfile.to_bytes(qm))
    return TrainedModel(
        kind=kind,
        task=task,
        labels=label_names,
        float_net=net,
        qmodel=qm,
        estimator=est,
        scaler=scaler,
        metric="accuracy" if task == "classification" else "r2",
        cv=cv_rep,
        full=full,
        n_folds=n_folds,
        n_groups=int(len(uniq)),
        model_size_bytes=size,
        train_seconds=time.perf_counter() - t0,
        fold_scores=fold_scores,
    )
