"""Training: the authors' schedule, on-the-fly augmentation, resumable runs.

A run lives in one folder::

    run/
      checkpoint-NNNN.keras  model + optimizer state after epoch NNNN
      rng_state-NNNN.npz     dropout mask generators' states (Keras does not restore them)
      state.json             epochs done, history, target scale, options, and the
                             names of the two files above (written last: the commit)

:func:`train` picks up from ``state.json`` when the folder already holds a
run, so a killed run continues where its last finished epoch left it. Every
random draw is tied to ``(seed, epoch, index)`` (augmentation, ordering) or
saved in the checkpoint (dropout masks, optimizer), so a resumed run gives
the same weights as an uninterrupted one, within floating-point tolerance.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic
from . import augment as fl_augment
from . import epoch_stream as fl_epoch_stream
from .library import open_library

__all__ = [
    "TrainOptions",
    "noam_learning_rate",
    "NoamSchedule",
    "load_split",
    "make_epoch",
    "epoch_order",
    "prepare_triplet",
    "normalise_targets",
    "TARGET_NORMS",
    "train",
    "LOSSES",
    "LEGACY_OPTION_DEFAULTS",
    "MIXED_PRECISION_POLICIES",
    "with_legacy_defaults",
]

LOSSES = ("mse", "mae", "huber", "spot_mse")
#: How targets are brought to order one (see :func:`normalise_targets`).
TARGET_NORMS = ("global", "pattern_max")
#: Keras mixed-precision policies a run may train under (``None``: float32).
MIXED_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16")
#: Options added after runs and cards were first written, with the value an
#: older run (which lacks the key) trained with.
LEGACY_OPTION_DEFAULTS = {"target_norm": "global", "jit_compile": False}


@dataclass(frozen=True)
class TrainOptions:
    """How to train one network.

    Attributes
    ----------
    epochs, batch_size : int
        Epochs and batch size [patterns].
    alpha, warmup, d_model : float
        The authors' Noam schedule: ``lr = (alpha·d_model)^-½ · min(step^-½,
        step·warmup^-1.5)``; peak ≈ 3.95e-3 at step 50 for (10, 50, 128).
    loss : str
        ``"mse"`` (the paper's), ``"mae"``, ``"huber"`` or ``"spot_mse"``
        (squared error weighted by ``1 + spot_weight·y/max(y)`` per image, see
        :func:`spot_weighted_mse`).
    spot_weight : float
        Extra weight of the brightest pixel of each target under ``"spot_mse"``.
    target_norm : str
        ``"global"``: every target times one factor (1 / mean of the training
        targets' maxima; the network must then also guess each pattern's
        absolute scale, which grows with thickness); ``"pattern_max"``: each
        target divided by its own maximum (the direct beam), a scale-free
        target that matches the scale-free input (see :func:`normalise_targets`).
    seed : int
        Seed of weights, ordering, augmentation and dropout.
    augment : AugmentSettings or None
        On-the-fly augmentation; ``None`` trains on clean triplets.
    mixed_precision : str or None
        ``None``, ``"mixed_bfloat16"`` or ``"mixed_float16"`` (Keras policy).
        ``benchmarks/model.py`` measured bf16 training 1.17-1.26x faster on a
        CPU with AMX-bf16 and about 5x slower on one without bf16 units.
    strategy : str or None
        ``None``, ``"mirrored"`` or ``"multi_worker"`` (tf.distribute, TensorFlow
        backend only).
    jit_compile : bool
        Compile each training and validation step with XLA (Keras'
        ``compile(jit_compile=True)``): ``benchmarks/model.py`` measured
        1.19-1.35x faster on an AVX2 CPU and 0.84-0.97x on an AVX-512 one;
        its kernels sum in another order, so the weights are not bitwise
        those of a run without it.
    """

    epochs: int = 10
    batch_size: int = 16
    alpha: float = 10.0
    warmup: float = 50.0
    d_model: float = 128.0
    loss: str = "mse"
    spot_weight: float = 20.0
    target_norm: str = "global"
    seed: int = 0
    augment: fl_augment.AugmentSettings | None = field(default_factory=fl_augment.AugmentSettings)
    mixed_precision: str | None = None
    strategy: str | None = None
    jit_compile: bool = False

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs={self.epochs}, batch_size={self.batch_size}: expected >= 1")
        if self.target_norm not in TARGET_NORMS:
            raise ValueError(f"target_norm {self.target_norm!r}: expected one of "
                             f"{', '.join(TARGET_NORMS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r}: expected one of {', '.join(LOSSES)}")
        if self.mixed_precision not in (None, *MIXED_PRECISION_POLICIES):
            raise ValueError(f"mixed_precision {self.mixed_precision!r}: expected None, "
                             "'mixed_bfloat16' or 'mixed_float16'")
        if self.strategy not in (None, "mirrored", "multi_worker"):
            raise ValueError(f"strategy {self.strategy!r}: expected None, 'mirrored' or "
                             "'multi_worker'")
        if not isinstance(self.jit_compile, bool):
            raise ValueError(f"jit_compile {self.jit_compile!r}: expected True or False")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def with_legacy_defaults(options: dict) -> dict:
    """A run's or card's options with :data:`LEGACY_OPTION_DEFAULTS` filled in
    where an older run lacks them (a copy; present keys are kept)."""
    return {**LEGACY_OPTION_DEFAULTS, **options}


def spot_weights(target, spot_weight):
    """Per-pixel loss weights ``1 + spot_weight · y / max(y)`` (numpy form).

    Structure-factor targets are sparse: on the default library only about
    0.5 % of the pixels exceed a tenth of their pattern's maximum, so a plain
    mean squared error is almost minimised by an all-zero image. Weighting
    each pixel by its share of the pattern's brightest peak gives the spots
    a say without changing what the minimum is (the weights do not depend on
    the prediction).

    Parameters
    ----------
    target : ndarray [..., N, N, 1] or [..., N, N]
        Non-negative targets; the maximum is taken per image over the last
        two (or three, with a channel axis) axes.
    spot_weight : float
        Weight added at each image's maximum (0: plain MSE).
    """
    target = np.asarray(target, dtype=np.float64)
    axes = (-3, -2, -1) if target.ndim == 4 else (-2, -1)
    peak = np.maximum(target.max(axis=axes, keepdims=True), 1e-12)
    return 1.0 + spot_weight * np.clip(target / peak, 0.0, 1.0)


@functools.cache
def _spot_mse_class():
    import keras

    @keras.saving.register_keras_serializable(package="fcunet")
    class SpotWeightedMSE(keras.losses.Loss):
        """Squared error weighted by :func:`spot_weights` (Keras loss)."""

        def __init__(self, spot_weight=20.0, name="spot_weighted_mse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.spot_weight = float(spot_weight)

        def call(self, y_true, y_pred):
            ops = keras.ops
            y_true = ops.cast(y_true, y_pred.dtype)
            peak = ops.maximum(ops.max(y_true, axis=(1, 2, 3), keepdims=True), 1e-12)
            weight = 1.0 + self.spot_weight * ops.clip(y_true / peak, 0.0, 1.0)
            return ops.mean(weight * ops.square(y_pred - y_true), axis=(1, 2, 3))

        def get_config(self):
            return {**super().get_config(), "spot_weight": self.spot_weight}

    return SpotWeightedMSE


def spot_weighted_mse(spot_weight=20.0):
    """The ``"spot_mse"`` Keras loss (see :func:`spot_weights`)."""
    return _spot_mse_class()(spot_weight)


def noam_learning_rate(step, *, alpha=10.0, warmup=50.0, d_model=128.0):
    """The authors' warm-up/decay learning rate at optimizer ``step`` (≥ 1)."""
    step = np.maximum(np.asarray(step, dtype=float), 1.0)
    return (alpha * d_model) ** -0.5 * np.minimum(step**-0.5, step * warmup**-1.5)


@functools.cache
def _noam_schedule_class():
    import keras

    @keras.saving.register_keras_serializable(package="fcunet")
    class NoamSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """Keras form of :func:`noam_learning_rate`."""

        def __init__(self, alpha=10.0, warmup=50.0, d_model=128.0):
            self.alpha, self.warmup, self.d_model = float(alpha), float(warmup), float(d_model)

        def __call__(self, step):
            ops = keras.ops
            step = ops.maximum(ops.cast(step, "float32") + 1.0, 1.0)
            scale = (self.alpha * self.d_model) ** -0.5
            return scale * ops.minimum(ops.power(step, -0.5), step * self.warmup**-1.5)

        def get_config(self):
            return {"alpha": self.alpha, "warmup": self.warmup, "d_model": self.d_model}

    return NoamSchedule


def __getattr__(name):  # NoamSchedule is built on first use: importing keras is slow
    if name == "NoamSchedule":
        return _noam_schedule_class()
    raise AttributeError(name)


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #
def load_split(library_folder, split: str, *, max_jobs: int | None = None) -> dict:
    """Load every pattern of one split of a library into memory.

    Parameters
    ----------
    library_folder : path
        A library built by :func:`fcunet_lib.library.build_library`.
    split : str
        ``"train"``, ``"validation"`` or ``"test"``.
    max_jobs : int, optional
        Use only the first jobs of the split (smaller runs).

    Returns
    -------
    dict
        ``cbed``, ``probe``, ``target`` float16 ``[n, N, N]`` (each pattern with
        its own probe), ``zone`` (``on_zone``/``off_zone``), ``thickness_nm``,
        ``material_id`` per pattern, and ``jobs`` (the job records).

    Raises
    ------
    ValueError
        If the split is unknown or holds no finished job.
    """
    if split not in ("train", "validation", "test"):
        raise ValueError(f"split {split!r}: expected 'train', 'validation' or 'test'")
    library = open_library(library_folder)
    records = library.records_where(split=split)[:max_jobs]
    if not records:
        raise ValueError(f"{library_folder} has no finished job in split {split!r}")
    parts = {"cbed": [], "probe": [], "target": [], "zone": [], "thickness_nm": [],
             "material_id": []}
    for record in records:
        arrays = library.job_arrays(record)
        n = len(record["thicknesses_nm"])
        parts["cbed"].append(arrays["cbed"])
        parts["target"].append(arrays["target"])
        parts["probe"].append(np.repeat(arrays["probe"][None].astype(np.float16), n, axis=0))
        parts["zone"] += [record["zone"]] * n
        parts["thickness_nm"] += list(record["thicknesses_nm"])
        parts["material_id"] += [record["material_id"]] * n
    data = {key: np.concatenate(parts[key]) for key in ("cbed", "probe", "target")}
    data.update(zone=np.array(parts["zone"]), thickness_nm=np.array(parts["thickness_nm"]),
                material_id=np.array(parts["material_id"]), jobs=records)
    return data


def epoch_order(n: int, *, epoch: int, seed: int, shuffle: bool = True) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``n`` patterns, seeded by ``(seed, epoch)``."""
    return (np.random.default_rng([seed, epoch]).permutation(n) if shuffle
            else np.arange(n))


def prepare_triplet(data: dict, index: int, *, epoch: int, seed: int,
                    settings: fl_augment.AugmentSettings | None, target_scale: float = 1.0,
                    target_norm: str = "global"):
    """Pattern ``index`` of a split as the network sees it in epoch ``epoch``.

    The target is normalised (:func:`normalise_targets`), then the triplet is
    augmented with the generator of ``(seed, index, epoch)`` (none if
    ``settings`` is None). Each triplet depends on nothing else, so epochs can
    be assembled in any order or in parallel with the same result.

    Returns
    -------
    (cbed, probe, target)
        float32 arrays [N, N].
    """
    c, p, t = (data[k][index].astype(np.float32) for k in ("cbed", "probe", "target"))
    t = normalise_targets(t, target_norm, target_scale=target_scale)
    if settings is not None:
        c, p, t, _ = fl_augment.augment_triplet(c, p, t, settings,
                                                fl_augment.rng_for(seed, index, epoch))
    return c, p, t


def make_epoch(data: dict, *, epoch: int, seed: int,
               settings: fl_augment.AugmentSettings | None, target_scale: float = 1.0,
               shuffle: bool = True, target_norm: str = "global"):
    """Assemble one epoch: ordered by ``(seed, epoch)``, augmented per pattern.

    Parameters
    ----------
    target_scale : float
        Factor applied to every target under ``target_norm="global"``.
    target_norm : str
        ``"global"`` or ``"pattern_max"`` (:func:`normalise_targets`; each
        target is divided by its maximum *before* augmentation, so a
        sub-pixel shift does not change what "1" means).

    Returns
    -------
    (inputs, target)
        ``inputs`` is ``[cbed, probe]``, each float32 ``[n, N, N, 1]``; ``target``
        float32 ``[n, N, N, 1]`` in the network's units.
    """
    n = len(data["cbed"])
    order = epoch_order(n, epoch=epoch, seed=seed, shuffle=shuffle)
    cbed = np.empty((n, *data["cbed"].shape[1:]), np.float32)
    probe = np.empty_like(cbed)
    target = np.empty_like(cbed)
    for out, index in enumerate(order):
        cbed[out], probe[out], target[out] = prepare_triplet(
            data, int(index), epoch=epoch, seed=seed, settings=settings,
            target_scale=target_scale, target_norm=target_norm)
    return [cbed[..., None], probe[..., None]], target[..., None]


def normalise_targets(targets, target_norm: str, *, target_scale: float = 1.0) -> np.ndarray:
    """Targets in a network's units.

    The networks' input is scale-free (the Fourier layer, and the real
    networks' input step, normalise each pattern), while a structure-factor
    target grows linearly with thickness and with the material's potential.
    ``"pattern_max"`` removes that scale from the target too: each image is
    divided by its own maximum (the direct beam, ``t·|V_0|``), leaving the
    relative structure factors ``|V_g| / |V_0|`` the input can determine.

    Parameters
    ----------
    targets : ndarray [..., N, N]
        Non-negative structure-factor images [V·Å].
    target_norm : str
        ``"global"`` (times ``target_scale``) or ``"pattern_max"``.
    target_scale : float
        The global factor (ignored by ``"pattern_max"``).

    Returns
    -------
    ndarray, float32
        Same shape; under ``"pattern_max"`` every non-empty image peaks at 1.
    """
    targets = np.asarray(targets, dtype=np.float32)
    if target_norm == "global":
        return targets * np.float32(target_scale)
    if target_norm != "pattern_max":
        raise ValueError(f"target_norm {target_norm!r}: expected one of {', '.join(TARGET_NORMS)}")
    return targets / image_maxima(targets)


def image_maxima(images) -> np.ndarray:
    """Maximum of each image over its last two axes (kept as size-1 axes),
    1 for an empty image so that dividing by it is always safe."""
    peak = np.asarray(images, dtype=np.float32).max(axis=(-2, -1), keepdims=True)
    return np.where(peak > 0, peak, np.float32(1.0))


def target_scale_for(data: dict) -> float:
    """Factor bringing the targets to order one: 1 / mean of per-pattern maxima."""
    peaks = data["target"].astype(np.float32).reshape(len(data["target"]), -1).max(axis=1)
    mean = float(peaks.mean())
    if mean <= 0:
        raise ValueError("every target is zero: expected structure-factor peaks")
    return 1.0 / mean


# --------------------------------------------------------------------------- #
# The run
# --------------------------------------------------------------------------- #
def _atomic_json(path: Path, payload: dict) -> None:
    atomic.write_text(path, json.dumps(payload, indent=1))


def _strategy_scope(name):
    import contextlib

    if name is None:
        return contextlib.nullcontext()
    import tensorflow as tf

    strategy = (tf.distribute.MirroredStrategy() if name == "mirrored"
                else tf.distribute.MultiWorkerMirroredStrategy())
    return strategy.scope()


def _seed_generators(model) -> list:
    """Every SeedGenerator of the model's layers, in a stable order.

    Keras saves their state variables with the weights but does not restore
    them on load (3.15), so :func:`train` keeps them in ``rng_state.npz``.
    """
    import keras

    found, stack = [], list(reversed(model.layers))
    while stack:
        layer = stack.pop()
        stack.extend(reversed(getattr(layer, "layers", [])))
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                found.append(value)
    return found


def _save_rng_state(model, path: Path) -> None:
    states = {f"g{i}": np.asarray(g.state.numpy()) for i, g in enumerate(_seed_generators(model))}
    tmp = path.with_name(".rng_state.tmp.npz")
    np.savez(tmp, **states)
    os.replace(tmp, path)


def _restore_rng_state(model, path: Path) -> None:
    generators = _seed_generators(model)
    with np.load(path) as saved:
        if len(saved.files) != len(generators):
            raise ValueError(f"{path} holds {len(saved.files)} random states, the model has "
                             f"{len(generators)}: expected the checkpoint's own model")
        for i, generator in enumerate(generators):
            generator.state.assign(saved[f"g{i}"])


def _write_checkpoint(model, folder: Path, state: dict) -> None:
    """Write epoch files first, then point ``state.json`` at them (the commit),
    then drop older epochs: a kill at any moment leaves a consistent run."""
    epoch = state["epochs_done"]
    names = {"checkpoint": f"checkpoint-{epoch:04d}.keras", "rng_state": f"rng_state-{epoch:04d}.npz"}
    tmp = folder / ".checkpoint.tmp.keras"
    model.save(tmp)
    os.replace(tmp, folder / names["checkpoint"])
    _save_rng_state(model, folder / names["rng_state"])
    state.update(names)
    _atomic_json(folder / "state.json", state)
    for pattern, keep in (("checkpoint-*.keras", names["checkpoint"]),
                          ("rng_state-*.npz", names["rng_state"])):
        for old in folder.glob(pattern):
            if old.name != keep:
                old.unlink()


def _compile(model, options: TrainOptions):
    import keras

    schedule = _noam_schedule_class()(options.alpha, options.warmup, options.d_model)
    losses = {"mse": "mean_squared_error", "mae": "mean_absolute_error",
              "huber": keras.losses.Huber(delta=0.1),
              "spot_mse": spot_weighted_mse(options.spot_weight)}
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss=losses[options.loss], metrics=["mean_absolute_error"],
                  jit_compile=options.jit_compile)
    return model


def train(build: Callable[[], object], train_data: dict, validation_data: dict, folder, *,
          options: TrainOptions, stop_after_epoch: int | None = None,
          verbose: int = 0) -> dict:
    """Train (or resume training) a network; checkpoint after every epoch.

    Parameters
    ----------
    build : callable
        Returns a new, uncompiled ``keras.Model`` with inputs ``[cbed, probe]``.
    train_data, validation_data : dict
        From :func:`load_split`.
    folder : path
        Run folder (created); a run already there is resumed, and a finished
        run is extended to ``options.epochs`` if that is larger (every other
        option must match). Extending gives the same result as a run asked
        for the larger count from the start.
    options : TrainOptions
    stop_after_epoch : int, optional
        Return after finishing this epoch (0-based), as if killed there.
    verbose : int
        Keras verbosity.

    Returns
    -------
    dict
        The state: ``epochs_done``, ``history`` (loss, val_loss, MAE per epoch),
        ``target_scale``, ``seconds`` (training wall time [s]), ``epoch_seconds``
        (wall time of each epoch [s]; runs from before it was kept lack it, and
        an extended one lists only the epochs since) and ``options``.
    """
    import keras

    # The policy is global in Keras: restore it so that a mixed-precision run
    # does not change the dtype of networks built after it.
    previous_policy = keras.mixed_precision.global_policy()
    if options.mixed_precision:
        keras.mixed_precision.set_global_policy(options.mixed_precision)
    try:
        return _train_in_folder(build, train_data, validation_data, Path(folder),
                                options=options, stop_after_epoch=stop_after_epoch,
                                verbose=verbose)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train_in_folder(build, train_data, validation_data, folder: Path, *, options,
                     stop_after_epoch, verbose) -> dict:
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    state_path = folder / "state.json"
    if state_path.is_file():
        state = json.loads(state_path.read_text())
        asked = json.loads(json.dumps(options.to_dict()))
        # runs from before target_norm / jit_compile existed trained without them
        state["options"] = with_legacy_defaults(state["options"])
        if {**state["options"], "epochs": None} != {**asked, "epochs": None}:
            raise ValueError(f"{folder} holds a run with other options: use a new folder")
        if state["epochs_done"] > options.epochs:
            raise ValueError(f"{folder} holds a run of {state['epochs_done']} epochs, more than the "
                             f"{options.epochs} asked: ask for at least {state['epochs_done']}")
        # Nothing in a run depends on the total epoch count (the schedule counts steps, each
        # epoch's augmentation is seeded by its index), so a finished run extends exactly.
        state["options"]["epochs"] = options.epochs
        _spot_mse_class(), _noam_schedule_class()  # register the compiled loss and schedule first
        with _strategy_scope(options.strategy):
            model = keras.saving.load_model(folder / state["checkpoint"])
        _restore_rng_state(model, folder / state["rng_state"])
    else:
        keras.utils.set_random_seed(options.seed)
        state = {"epochs_done": 0, "history": {}, "seconds": 0.0,
                 "target_scale": (target_scale_for(train_data) if options.target_norm == "global"
                                  else 1.0),
                 "options": options.to_dict()}
        with _strategy_scope(options.strategy):
            model = _compile(build(), options)
    scale, norm = state["target_scale"], options.target_norm
    val_inputs, val_target = make_epoch(validation_data, epoch=0, seed=options.seed,
                                        settings=None, target_scale=scale, shuffle=False,
                                        target_norm=norm)
    # the batches Keras would cut from the arrays, without its autotuned pipeline's end-of-pass wait
    validation = fl_epoch_stream.array_batches(val_inputs, val_target,
                                               batch_size=options.batch_size)
    for epoch in range(state["epochs_done"], options.epochs):
        start = time.perf_counter()
        # augmented on the fly, beside the training steps; the same batches as make_epoch's
        batches = fl_epoch_stream.epoch_dataset(
            train_data, epoch=epoch, seed=options.seed, settings=options.augment,
            batch_size=options.batch_size, target_scale=scale, target_norm=norm)
        fit = model.fit(batches, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                        verbose=verbose,
                        validation_data=validation)
        for key, values in fit.history.items():
            state["history"].setdefault(key, []).append(float(values[-1]))
        state["epochs_done"] = epoch + 1
        seconds = time.perf_counter() - start
        state["seconds"] += seconds
        state.setdefault("epoch_seconds", []).append(seconds)
        _write_checkpoint(model, folder, state)
        if stop_after_epoch is not None and epoch >= stop_after_epoch:
            break
    return state
