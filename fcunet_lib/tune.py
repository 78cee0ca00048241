"""Hyper-parameter search over the authors' ranges with Ray Tune (an extra).

The authors tuned FCU-Net with Ray Tune: HyperOpt proposals, an ASHA
scheduler on the validation MAE (``max_t`` 400, grace period 20). This module
repeats that search with our builders and :func:`fcunet_lib.train.train`::

    pip install '.[tune]'
    fcunet tune --scale smoke --model fcunet --samples 2 --epochs 1

:func:`search_space` describes the ranges without Ray; :func:`run_search`
needs the extra. Every trial trains in its own run folder, keyed by the
network, its options and the library, one epoch at a time, so a killed search
run again with the same seed resumes its trials instead of retraining them.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import config

__all__ = ["Dimension", "SearchResult", "search_space", "run_search", "METRIC"]

#: Name of the metric a trial reports each epoch (validation MAE).
METRIC = "val_mae"

_INSTALL_HINT = "Ray Tune is not installed: install the extra: pip install '.[tune]'"


@dataclass(frozen=True)
class Dimension:
    """One searched hyper-parameter.

    Attributes
    ----------
    kind : {"choice", "randint", "uniform", "loguniform"}
        How a value is drawn: from ``choices``, or uniformly (integers, both
        bounds included), uniformly or log-uniformly between ``low`` and
        ``high``.
    low, high : float or None
        Bounds of a range (``None`` for ``"choice"``).
    choices : tuple
        Values of a ``"choice"`` (empty otherwise).
    authors : str
        The authors' name of the dimension.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    authors: str = ""

    def __post_init__(self):
        if self.kind == "choice":
            if not self.choices:
                raise ValueError("a 'choice' dimension needs choices")
        elif self.kind in ("randint", "uniform", "loguniform"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"{self.kind} dimension: expected low < high, "
                                 f"got {self.low}, {self.high}")
            if self.kind == "loguniform" and self.low <= 0:
                raise ValueError("loguniform dimension: expected low > 0")
        else:
            raise ValueError(f"kind {self.kind!r}: expected 'choice', 'randint', 'uniform' "
                             "or 'loguniform'")

    def contains(self, value) -> bool:
        """Whether ``value`` can be drawn from this dimension."""
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "randint" and int(value) != value:
            return False
        return self.low <= value <= self.high


@dataclass(frozen=True)
class SearchResult:
    """What :func:`run_search` found.

    Attributes
    ----------
    best_config : dict
        The searched values of the trial with the lowest final validation MAE.
    best_val_mae : float
        Its validation MAE after its last epoch, in units of the scaled
        target (targets divided by the training split's mean per-pattern
        maximum: dimensionless, order 0.01–1).
    best_run_folder : pathlib.Path
        Its run folder (checkpoint and ``state.json``, see :mod:`fcunet_lib.train`).
    searcher : str
        ``"hyperopt"`` or ``"random"`` (Ray's seeded random search).
    trials : list of dict
        Per trial: ``config``, ``val_mae`` (last epoch), ``val_mae_per_epoch``,
        ``epochs`` (trained; fewer than asked when ASHA stopped it),
        ``run_folder`` and ``error`` (``None`` unless the trial failed).
    """

    best_config: dict
    best_val_mae: float
    best_run_folder: Path
    searcher: str
    trials: list = field(default_factory=list)


def search_space() -> dict[str, Dimension]:
    """The authors' search ranges, for what our builders and options expose.

    Searched (authors' name in brackets):

    * ``base_filters`` [filter_size 4–64]: filters of the first U-Net level,
      powers of two from 4 to 64 (the widths double per level);
    * ``convs_per_block`` [depth 2–8]: convolutions per block ("filter depth");
    * ``dropout`` [dropout 0.1–0.5]: Monte-Carlo dropout rate;
    * ``alpha`` [α 1–10000]: scale of the Noam learning rate, log-uniform;
    * ``warmup`` [warmup 1–50]: warm-up of the Noam learning rate [optimizer
      steps], integer.

    Not searched: the authors' ``activation`` {relu, tanh} and ``optimizer``
    {adam, sgd, adadelta, lamb}. Our builders (:mod:`fcunet_lib.models`) fix
    the activation (ReLU, or CReLU on complex features) and
    :class:`fcunet_lib.train.TrainOptions` fixes Adam with the Noam schedule,
    so neither is an option a trial could set. The number of levels is the
    scale's (the authors did not search it).

    Returns
    -------
    dict
        Name -> :class:`Dimension`; the names are the keys of a trial's config.
    """
    return {
        "base_filters": Dimension("choice", choices=(4, 8, 16, 32, 64), authors="filter_size"),
        "convs_per_block": Dimension("randint", 2, 8, authors="depth"),
        "dropout": Dimension("uniform", 0.1, 0.5, authors="dropout"),
        "alpha": Dimension("loguniform", 1.0, 1e4, authors="alpha"),
        "warmup": Dimension("randint", 1, 50, authors="warmup"),
    }


def run_search(scale, model_name: str = "fcunet", *, num_samples: int, epochs_per_trial: int,
               max_t: int | None = None, grace_period: int | None = None, seed: int = 0,
               storage_path=None, max_jobs: int | None = None, library_folder=None,
               max_concurrent_trials: int | None = None) -> SearchResult:
    """Search the hyper-parameters of one network with Ray Tune and ASHA.

    Parameters
    ----------
    scale : str
        Scale preset: its library (plan seed 0, the shipped models'), its
        network levels and batch size [patterns].
    model_name : {"unet", "spectral_unet", "fcunet"}
        The network searched.
    num_samples : int
        Trials (configurations drawn from :func:`search_space`).
    epochs_per_trial : int
        Epochs a trial trains unless ASHA stops it first (the authors: 10).
    max_t : int, optional
        ASHA's longest trial [epochs]; default ``epochs_per_trial`` (the authors: 400).
    grace_period : int, optional
        Epochs before ASHA may stop a trial; default ``min(20, max_t)`` (the authors: 20).
    seed : int
        Seed of the proposals and of every trial's training.
    storage_path : path, optional
        Folder of Tune's results and of the trials' run folders (``runs/``);
        default ``data/<scale>/tune``.
    max_jobs : int, optional
        Load only the first library jobs of the training and validation
        splits (smaller, faster trials).
    library_folder : path, optional
        A built library to search on instead of the scale's.
    max_concurrent_trials : int, optional
        Trials run at once; default as many as Ray's CPUs allow.

    Returns
    -------
    SearchResult
        The best configuration, its validation MAE and every trial's result.

    Raises
    ------
    ValueError
        If an argument is invalid or Ray Tune is not installed.
    RuntimeError
        If every trial failed.
    """
    from .models import MODEL_NAMES

    cfg = config.get_scale(scale)
    if model_name not in MODEL_NAMES:
        raise ValueError(f"model {model_name!r}: expected one of {', '.join(MODEL_NAMES)}")
    max_t = epochs_per_trial if max_t is None else max_t
    grace_period = min(20, max_t) if grace_period is None else grace_period
    _check_counts(num_samples=num_samples, epochs_per_trial=epochs_per_trial, max_t=max_t,
                  grace_period=grace_period, max_jobs=max_jobs,
                  max_concurrent_trials=max_concurrent_trials)
    if grace_period > max_t:
        raise ValueError(f"grace_period={grace_period} exceeds max_t={max_t}: expected "
                         "grace_period <= max_t")
    ray, tune = _import_ray()
    storage = Path(storage_path or config.scale_data_dir(cfg.name) / "tune").resolve()
    plan, train_data, validation_data = _trial_plan(cfg, model_name, library_folder, max_jobs,
                                                    epochs_per_trial, seed, storage)
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, log_to_driver=False)
    try:
        searcher, searcher_name = _searcher(seed)
        experiment = f"{model_name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        tuner = tune.Tuner(
            tune.with_parameters(_trial, train_data=train_data, validation_data=validation_data,
                                 plan=plan),
            param_space=_tune_domains(tune, search_space()),
            tune_config=tune.TuneConfig(
                metric=METRIC, mode="min", search_alg=searcher, num_samples=num_samples,
                scheduler=tune.schedulers.ASHAScheduler(max_t=max_t, grace_period=grace_period),
                max_concurrent_trials=max_concurrent_trials),
            run_config=tune.RunConfig(name=experiment, storage_path=str(storage), verbose=0))
        grid = tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()
    return _summarise(grid, searcher_name)


# --------------------------------------------------------------------------- #
# Steps of run_search
# --------------------------------------------------------------------------- #
def _check_counts(**counts) -> None:
    for name, value in counts.items():
        if value is None and name in ("max_jobs", "max_concurrent_trials"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r}: expected an integer >= 1")


def _import_ray():
    try:
        import ray
        from ray import tune
        from ray.tune import schedulers  # noqa: F401  (tune.schedulers below)
    except ImportError:
        raise ValueError(_INSTALL_HINT) from None
    return ray, tune


def _searcher(seed: int):
    """HyperOpt's TPE when hyperopt is installed, else Ray's random search; both seeded."""
    try:
        import hyperopt  # noqa: F401
    except ImportError:
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed), "random"
    from ray.tune.search.hyperopt import HyperOptSearch

    return HyperOptSearch(random_state_seed=seed), "hyperopt"


def _tune_domains(tune, space: dict) -> dict:
    makers = {
        "choice": lambda d: tune.choice(list(d.choices)),
        "randint": lambda d: tune.randint(int(d.low), int(d.high) + 1),  # upper bound excluded
        "uniform": lambda d: tune.uniform(d.low, d.high),
        "loguniform": lambda d: tune.loguniform(d.low, d.high),
    }
    return {name: makers[dim.kind](dim) for name, dim in space.items()}


def _trial_plan(cfg, model_name, library_folder, max_jobs, epochs, seed, storage):
    """What every trial shares: data, base architecture, options and folders."""
    from . import train, training_run
    from .library_plan import ensure_library

    folder = Path(library_folder) if library_folder else ensure_library(cfg.name)["folder"]
    train_data = train.load_split(folder, "train", max_jobs=max_jobs)
    validation_data = train.load_split(folder, "validation", max_jobs=max_jobs)
    architecture = {**training_run.network_options(cfg.name, model_name),
                    "input_size": int(train_data["cbed"].shape[-1])}
    plan = {"model": model_name, "architecture": architecture, "epochs": epochs, "seed": seed,
            "batch_size": cfg.training.batch_size, "library": Path(folder).name,
            "runs": str(storage / "runs")}
    return plan, train_data, validation_data


def _plain_config(values: dict) -> dict:
    """The searched values as Python numbers (Tune may hand numpy scalars)."""
    kinds = {"randint": int, "uniform": float, "loguniform": float}
    return {name: (kinds.get(dim.kind) or type(dim.choices[0]))(values[name])
            for name, dim in search_space().items()}


def _summarise(grid, searcher_name: str) -> SearchResult:
    trials = []
    for result in grid:
        frame = result.metrics_dataframe
        per_epoch = ([float(v) for v in frame[METRIC].dropna()]
                     if frame is not None and METRIC in frame else [])
        metrics = result.metrics or {}
        trials.append({
            "config": _plain_config(result.config),
            "val_mae": per_epoch[-1] if per_epoch else math.nan,
            "val_mae_per_epoch": per_epoch,
            "epochs": len(per_epoch),
            "run_folder": Path(metrics["run_folder"]) if "run_folder" in metrics else None,
            "error": None if result.error is None else str(result.error),
        })
    scored = [t for t in trials if t["error"] is None and math.isfinite(t["val_mae"])]
    if not scored:
        errors = "; ".join(t["error"] or "no metric reported" for t in trials)
        raise RuntimeError(f"every trial failed: {errors}")
    best = min(scored, key=lambda t: t["val_mae"])
    return SearchResult(best_config=best["config"], best_val_mae=best["val_mae"],
                        best_run_folder=best["run_folder"], searcher=searcher_name,
                        trials=trials)


# --------------------------------------------------------------------------- #
# One trial (runs in a Ray worker)
# --------------------------------------------------------------------------- #
def _trial_setup(config_values: dict, plan: dict):
    """Architecture, options and run folder of one configuration."""
    from . import train

    architecture = {**plan["architecture"],
                    "base_filters": int(config_values["base_filters"]),
                    "convs_per_block": int(config_values["convs_per_block"]),
                    "dropout": float(config_values["dropout"])}
    options = train.TrainOptions(epochs=plan["epochs"], batch_size=plan["batch_size"],
                                 alpha=float(config_values["alpha"]),
                                 warmup=float(config_values["warmup"]), seed=plan["seed"])
    key = json.dumps({"model": plan["model"], "architecture": architecture,
                      "options": options.to_dict(), "library": plan["library"]},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return architecture, options, Path(plan["runs"]) / f"{plan['model']}-{digest}"


def _run_history(folder: Path) -> dict:
    """History of a run folder so far (empty for a new run)."""
    state_path = folder / "state.json"
    if not state_path.is_file():
        return {}
    return json.loads(state_path.read_text())["history"]


def _trial(config_values: dict, *, train_data: dict, validation_data: dict, plan: dict) -> None:
    """Train one configuration epoch by epoch, reporting the validation MAE to Tune."""
    from ray import tune

    from . import models, train

    architecture, options, folder = _trial_setup(config_values, plan)
    history = _run_history(folder)
    for epoch in range(options.epochs):
        if len(history.get("val_mean_absolute_error", [])) <= epoch:
            history = train.train(lambda: models.build_model(plan["model"], **architecture),
                                  train_data, validation_data, folder, options=options,
                                  stop_after_epoch=epoch)["history"]
        tune.report({METRIC: history["val_mean_absolute_error"][epoch], "epoch": epoch + 1,
                     "run_folder": str(folder)})
