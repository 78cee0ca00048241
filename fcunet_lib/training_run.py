"""Train one of Table I's networks for a scale and ship it with its card.

``fcunet train --scale default --model fcunet`` runs :func:`train_and_ship`:
it finds (or builds) the scale's library, trains with
:func:`fcunet_lib.train.train` in a resumable run folder, scores the
validation split (SSIM on and off zone) and writes the model and its card
(:mod:`fcunet_lib.model_store`). The ``default`` scale ships into the
repository's ``models/``; other scales into ``data/<scale>/models/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from . import config
from .training_domain import TrainingDomain

__all__ = ["scale_models_dir", "load_network", "load_model_file", "train_options", "options_differences",
           "train_and_ship", "train_command", "run_folder", "require_models", "load_scale_models", "load_training_splits", "score_run",
           "architecture", "output_activation_of", "scale_fourier_padding",
           "network_options", "fourier_padding_of", "correlation_skip_of",
           "scale_correlation_skip"]


def scale_models_dir(scale: str) -> Path:
    """Where the models of a scale live: ``models/`` for ``default``."""
    name = config.get_scale(scale).name
    return config.models_dir() if name == "default" else config.scale_data_dir(name) / "models"


def require_models(names, folder, *, scale: str) -> None:
    """Raise a clear error if a network has no model in ``folder``.

    Raises
    ------
    FileNotFoundError
        Naming the missing networks and the notebook that trains them.
    """
    from . import model_store

    missing = [name for name in names if name not in model_store.shipped_models(folder=folder)]
    if missing:
        raise FileNotFoundError(
            f"no trained {', '.join(missing)} model in {folder}: run notebook 04_train at scale "
            f"{scale!r} first (`fcunet reproduce --scale {scale} --only 04`)")


def load_scale_models(scale: str, names) -> dict:
    """Load the trained models of a scale (sha256-checked), by name.

    Raises
    ------
    FileNotFoundError
        If one is missing, naming the notebook that trains it.
    """
    from . import model_store

    folder = scale_models_dir(scale)
    require_models(names, folder, scale=scale)
    return {name: model_store.load_model(name, folder=folder) for name in names}


def load_network(scale: str, network: str, *, model_file=None):
    """The learned finder's network: a shipped model of a scale, or a ``.keras`` file.

    Parameters
    ----------
    scale : str
        Scale preset whose shipped models are meant.
    network : str
        ``"fcunet"``, ``"spectral_unet"`` or ``"unet"``: the shipped model, or
        the kind of network ``model_file`` holds.
    model_file : path, optional
        A trained network of that kind instead of the shipped one
        (:func:`load_model_file`).

    Returns
    -------
    keras.Model
        With ``model.card`` (:func:`load_model_file` for ``model_file``).

    Raises
    ------
    FileNotFoundError, ValueError
        If the shipped model or ``model_file`` is missing, or the file has
        neither a card nor a run state beside it.
    """
    if model_file is None:
        return load_scale_models(scale, [network])[network]
    return load_model_file(model_file, network=network)


def load_model_file(model_file, *, network: str = "network"):
    """A trained network from a ``.keras`` file, with what says how it was trained.

    Parameters
    ----------
    model_file : path
        A model with its card beside it (``<name>.json``, as in ``models/``;
        sha256-checked by :func:`fcunet_lib.model_store.load_model`), or a run
        checkpoint with its run's ``state.json`` beside it.
    network : str
        What the file holds, for the card's ``command`` and the messages.

    Returns
    -------
    keras.Model
        With ``model.card``: the card, or for a checkpoint a card holding its
        ``file``, ``sha256``, ``command`` (naming the file) and the run's
        ``options``, ``target_scale`` and ``history``.

    Raises
    ------
    FileNotFoundError
        If ``model_file`` does not exist.
    ValueError
        If it has neither a card nor a run state beside it (the target
        normalisation it was trained with would be unknown).
    """
    from . import model_store

    path = Path(model_file)
    if not path.is_file():
        raise FileNotFoundError(f"model_file {path} does not exist: expected a .keras file of a {network}")
    if path.with_suffix(".json").is_file():
        return model_store.load_model(path.stem, folder=path.parent)
    state_path = path.parent / "state.json"
    if not state_path.is_file():
        raise ValueError(f"{path}: expected a model with its card ({path.with_suffix('.json').name}) or a "
                         f"run checkpoint with {state_path.name} beside it")
    import keras

    from . import layers, train  # noqa: F401  (registers the custom objects)

    state = json.loads(state_path.read_text())
    model = keras.saving.load_model(path, compile=False)
    model.card = {**state, "model": network, "file": str(path), "sha256": model_store.sha256_of(path),
                  "command": f"{network} from {path}", "library_hash": None}
    return model


def load_training_splits(scale: str, *, seed: int = 0, other_energies_kv=None):
    """The library of a scale (built or resumed if needed) and its two training splits.

    ``other_energies_kv`` selects the scale's multi-energy library instead
    (:func:`fcunet_lib.library_plan.ensure_library`).

    Returns
    -------
    folder : pathlib.Path
        The library folder.
    train_data, validation : dict
        :func:`fcunet_lib.train.load_split` of ``"train"`` and ``"validation"``.
    """
    from . import train
    from .library_plan import ensure_library

    folder = ensure_library(config.get_scale(scale).name, seed=seed,
                            other_energies_kv=other_energies_kv)["folder"]
    return folder, train.load_split(folder, "train"), train.load_split(folder, "validation")


#: Short names of :data:`fcunet_lib.train.MIXED_PRECISION_POLICIES`, for run folders and file names.
MIXED_PRECISION_LABELS = {"mixed_bfloat16": "bf16", "mixed_float16": "fp16"}


def speed_labels(*, jit_compile: bool = False, mixed_precision: str | None = None) -> list[str]:
    """Labels of the options that change how a run computes, not what it trains.

    XLA compilation and mixed precision leave the data, network and schedule
    alone but change the arithmetic, so the weights are not bitwise those of a
    run without them: such a run gets its own run folder (the labels joined
    to its name) and its own check file.

    Returns
    -------
    list of str
        ``"xla"`` for ``jit_compile``, then ``"bf16"`` or ``"fp16"`` for the
        policy (:data:`MIXED_PRECISION_LABELS`); empty for a plain float32 run.
    """
    labels = ["xla"] if jit_compile else []
    if mixed_precision is not None:
        if mixed_precision not in MIXED_PRECISION_LABELS:
            raise ValueError(f"mixed_precision {mixed_precision!r}: expected None or one of "
                             f"{', '.join(MIXED_PRECISION_LABELS)}")
        labels.append(MIXED_PRECISION_LABELS[mixed_precision])
    return labels


def speed_flags(*, jit_compile: bool = False, mixed_precision: str | None = None) -> str:
    """The command-line flags of :func:`speed_labels`' options (``""`` if none)."""
    return ((" --jit-compile" if jit_compile else "")
            + (f" --mixed-precision {mixed_precision}" if mixed_precision else ""))


def train_options(scale: str, *, seed: int = 0, epochs: int | None = None,
                  target_norm: str | None = None, jit_compile: bool = False,
                  mixed_precision: str | None = None):
    """The :class:`fcunet_lib.train.TrainOptions` of a scale (``epochs`` and
    ``target_norm`` override the scale's; ``jit_compile`` turns on XLA,
    ``mixed_precision`` a Keras mixed policy)."""
    from . import checks
    from .train import TrainOptions

    training = config.get_scale(scale).training
    epochs = training.epochs if epochs is None else checks.positive_integer("epochs", epochs)
    return TrainOptions(epochs=epochs, batch_size=training.batch_size, seed=seed,
                        loss=training.loss, spot_weight=training.spot_weight,
                        target_norm=training.target_norm if target_norm is None else target_norm,
                        jit_compile=jit_compile, mixed_precision=mixed_precision)


def options_differences(options: dict, card_options: dict) -> dict:
    """Training options that differ between a run and a model card.

    Both sides are compared as JSON data (a run's tuples are a card's lists)
    and a key an older run or card lacks reads as the value it trained with
    (:data:`fcunet_lib.train.LEGACY_OPTION_DEFAULTS`).

    Parameters
    ----------
    options : dict
        A run's options (``TrainOptions.to_dict()`` or a card's).
    card_options : dict
        The ``"options"`` of a model card.

    Returns
    -------
    dict
        ``{key: {"run": value, "card": value}}`` for every key whose values
        differ (a key missing on one side reads as ``None``); empty when the
        options are the same.
    """
    from .train import with_legacy_defaults

    run = json.loads(json.dumps(with_legacy_defaults(options)))
    card = json.loads(json.dumps(with_legacy_defaults(card_options)))
    return {key: {"run": run.get(key), "card": card.get(key)}
            for key in sorted(set(run) | set(card)) if run.get(key) != card.get(key)}


def architecture(scale: str, *, output_activation: str | None = None,
                 fourier_padding: str | None = None, correlation_skip: bool = False) -> dict:
    """Builder options of a scale (:func:`fcunet_lib.models.model_config`),
    ``output_activation`` overriding the scale's.

    ``fourier_padding`` and ``correlation_skip`` (FCU-Net only) enter the
    options only when they are not the builders' defaults (``"zeros"``,
    ``False``), so the options, and the run folders keyed by them, of every
    network trained before they existed stay the same.
    """
    from . import models

    options = models.model_config(scale)
    if output_activation is not None:
        if output_activation not in models.OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation {output_activation!r}: expected one of "
                             f"{', '.join(models.OUTPUT_ACTIVATIONS)}")
        options["output_activation"] = output_activation
    if fourier_padding is not None:
        if fourier_padding not in models.FOURIER_PADDINGS:
            raise ValueError(f"fourier_padding {fourier_padding!r}: expected one of "
                             f"{', '.join(models.FOURIER_PADDINGS)}")
        if fourier_padding != "zeros":
            options["fourier_padding"] = fourier_padding
    if correlation_skip:
        options["correlation_skip"] = True
    return options


def output_activation_of(card: dict) -> str:
    """A model card's output activation; models trained before the option
    existed are ``"linear"``."""
    return card.get("architecture", {}).get("output_activation", "linear")


def scale_correlation_skip(scale: str, name: str) -> bool:
    """Whether a scale trains network ``name`` with the correlation skip:
    :attr:`fcunet_lib.config.TrainingSettings.correlation_skip` for FCU-Net,
    ``False`` for the two real networks (they have no Fourier layer)."""
    return bool(config.get_scale(scale).training.correlation_skip) if name == "fcunet" else False


def scale_fourier_padding(scale: str, name: str) -> str | None:
    """The Fourier-domain padding a scale trains network ``name`` with:
    :attr:`fcunet_lib.config.TrainingSettings.fourier_padding` for FCU-Net,
    ``None`` for the two real networks (they have no Fourier-domain
    convolutions)."""
    return config.get_scale(scale).training.fourier_padding if name == "fcunet" else None


def network_options(scale: str, name: str) -> dict:
    """Builder options network ``name`` trains with at a scale (the scale's
    :func:`architecture` with its :func:`scale_fourier_padding` and
    :func:`scale_correlation_skip`): what ``fcunet train`` builds, and what
    benchmarks should time."""
    return architecture(scale, fourier_padding=scale_fourier_padding(scale, name),
                        correlation_skip=scale_correlation_skip(scale, name))


def fourier_padding_of(card: dict) -> str:
    """A model card's Fourier-domain padding; ``"zeros"`` unless it says otherwise."""
    return card.get("architecture", {}).get("fourier_padding", "zeros")


def correlation_skip_of(card: dict) -> bool:
    """Whether a model card's FCU-Net has the correlation skip; ``False`` unless it says so."""
    return bool(card.get("architecture", {}).get("correlation_skip", False))


def train_command(scale: str, name: str, seed: int, epochs: int | None = None, *,
                  target_norm: str | None = None, output_activation: str | None = None,
                  fourier_padding: str | None = None, correlation_skip: bool | None = None,
                  jit_compile: bool = False, mixed_precision: str | None = None,
                  other_energies_kv=None, models_dir=None) -> str:
    """The exact command that reproduces a shipped model: ``--other-energies``
    for a multi-energy library and ``--models-dir`` where it was shipped
    elsewhere than the scale's folder, ``--epochs``,
    ``--target-norm``, ``--output-activation`` and ``--fourier-padding`` only
    where they differ from the scale's (the last, for FCU-Net, from
    :func:`scale_fourier_padding`; ``None`` means the scale's),
    ``--correlation-skip`` / ``--no-correlation-skip`` where it differs from
    :func:`scale_correlation_skip` (``None`` means the scale's), and
    ``--jit-compile`` and ``--mixed-precision POLICY`` for a run trained with
    XLA or a mixed policy (:func:`speed_flags`)."""
    cfg = config.get_scale(scale)
    command = f"fcunet train --scale {cfg.name} --model {name} --seed {seed}"
    if other_energies_kv:
        command += " --other-energies " + " ".join(f"{e:g}" for e in other_energies_kv)
    if models_dir is not None:
        command += f" --models-dir {models_dir}"
    if epochs is not None and epochs != cfg.training.epochs:
        command += f" --epochs {epochs}"
    if target_norm is not None and target_norm != cfg.training.target_norm:
        command += f" --target-norm {target_norm}"
    if output_activation is not None and output_activation != cfg.training.output_activation:
        command += f" --output-activation {output_activation}"
    if fourier_padding is not None and fourier_padding != (scale_fourier_padding(cfg.name, name) or "zeros"):
        command += f" --fourier-padding {fourier_padding}"
    if correlation_skip is not None and bool(correlation_skip) != scale_correlation_skip(cfg.name, name):
        command += " --correlation-skip" if correlation_skip else " --no-correlation-skip"
    return command + speed_flags(jit_compile=jit_compile, mixed_precision=mixed_precision)


def run_folder(scale: str, name: str, seed: int, library_folder: Path,
               architecture: dict | None = None, *, jit_compile: bool = False,
               mixed_precision: str | None = None) -> Path:
    """Run folder of one training: keyed by model, seed and library plan, so
    a changed library never resumes (or ships) weights trained on another;
    with ``architecture`` (the builder options) also by a digest of those, so
    a changed network (say, its output activation) starts a new run instead
    of resuming the old weights; an XLA-compiled or mixed-precision run gets
    its own folder (suffixes ``-xla``, ``-bf16``: :func:`speed_labels`),
    beside the run without it. (The other
    training options are checked on resume by :func:`fcunet_lib.train.train`.)"""
    label = f"{name}-seed{seed}-{Path(library_folder).name}"
    if architecture is not None:
        text = json.dumps(architecture, sort_keys=True)
        label += "-net" + hashlib.sha256(text.encode()).hexdigest()[:8]
    for speed in speed_labels(jit_compile=jit_compile, mixed_precision=mixed_precision):
        label += "-" + speed
    return config.scale_data_dir(scale) / "runs" / label


def train_and_ship(scale: str, name: str, *, seed: int = 0, verbose: int = 0,
                   stop_after_epoch: int | None = None, fresh: bool = False,
                   epochs: int | None = None, target_norm: str | None = None,
                   output_activation: str | None = None, fourier_padding: str | None = None,
                   correlation_skip: bool | None = None, jit_compile: bool = False,
                   mixed_precision: str | None = None, other_energies_kv=None,
                   models_dir=None) -> dict:
    """Train model ``name`` on the scale's library and ship it.

    Parameters
    ----------
    scale : str
        Scale preset (library, network size, epochs).
    name : str
        ``"unet"``, ``"spectral_unet"`` or ``"fcunet"``.
    seed : int
        Seed of the library plan and of training.
    verbose : int
        Keras verbosity.
    stop_after_epoch : int, optional
        Stop after this epoch (0-based) without shipping: a partial run that a
        later call resumes.
    fresh : bool
        Discard an existing run of the same model, seed and library and train
        from scratch (otherwise a finished run is only scored and shipped).
    epochs : int, optional
        Train this many epochs instead of the scale's; a finished shorter run
        of the same model, seed and library is extended.
    target_norm, output_activation : str, optional
        Train with this target normalisation
        (:data:`fcunet_lib.train.TARGET_NORMS`) or network output
        (:data:`fcunet_lib.models.OUTPUT_ACTIVATIONS`) instead of the scale's;
        the card's command names them.
    fourier_padding : str, optional
        FCU-Net only: padding of its Fourier-domain convolutions
        (:data:`fcunet_lib.models.FOURIER_PADDINGS`; default the scale's,
        :func:`scale_fourier_padding`).
    correlation_skip : bool, optional
        FCU-Net only: hand its head the cross-correlation map too
        (:func:`fcunet_lib.models.fcunet`; default the scale's,
        :func:`scale_correlation_skip`).
    jit_compile : bool
        Compile the training steps with XLA
        (:attr:`fcunet_lib.train.TrainOptions.jit_compile`), in a run folder of
        its own; the card's command names it.
    mixed_precision : str, optional
        Train under this Keras policy (``"mixed_bfloat16"``: faster where the
        CPU has bf16 units, see ``benchmarks/model.py``), in a run folder of
        its own; the card's command names it.
    other_energies_kv : sequence of float, optional
        Train on the scale's multi-energy library (each orientation at one of
        the scale's beam energy and these [kV]; built if missing), in a run
        folder of its own. The card records the energies in its
        ``training_domain``.
    models_dir : path, optional
        Ship into this folder instead of the scale's (:func:`scale_models_dir`).
        A multi-energy model defaults to ``data/<scale>/models-<library
        folder>``, so that it never replaces the scale's shipped model, whose
        figures check the scale's own library.

    Returns
    -------
    dict
        The model card (or the run state when stopped early).
    """
    from . import model_store, models, train
    from .library_plan import scale_simulation

    cfg = config.get_scale(scale)
    if name not in models.MODEL_NAMES:
        raise ValueError(f"model {name!r}: expected one of {', '.join(models.MODEL_NAMES)}")
    if fourier_padding not in (None, "zeros") and name != "fcunet":
        raise ValueError(f"fourier_padding applies to fcunet only (the {name} has no Fourier-domain "
                         "convolutions)")
    if correlation_skip and name != "fcunet":
        raise ValueError(f"correlation_skip applies to fcunet only (the {name} has no Fourier layer)")
    simulation = scale_simulation(cfg.name, other_energies_kv)
    folder, train_data, validation = load_training_splits(cfg.name, seed=seed,
                                                          other_energies_kv=other_energies_kv)
    if models_dir is None and simulation.other_energies_kv:
        ship_to = config.scale_data_dir(cfg.name) / f"models-{Path(folder).name}"
    else:
        ship_to = scale_models_dir(cfg.name) if models_dir is None else Path(models_dir)
    if fourier_padding is None:
        fourier_padding = scale_fourier_padding(cfg.name, name)
    if correlation_skip is None:
        correlation_skip = scale_correlation_skip(cfg.name, name)
    network = architecture(cfg.name, output_activation=output_activation, fourier_padding=fourier_padding,
                           correlation_skip=correlation_skip)
    options = train_options(cfg.name, seed=seed, epochs=epochs, target_norm=target_norm,
                            jit_compile=jit_compile, mixed_precision=mixed_precision)
    run = run_folder(cfg.name, name, seed, folder, network, jit_compile=jit_compile,
                     mixed_precision=mixed_precision)
    if fresh and run.exists():
        shutil.rmtree(run)
    state = train.train(lambda: models.build_model(name, **network), train_data,
                        validation, run, options=options, verbose=verbose,
                        stop_after_epoch=stop_after_epoch)
    if state["epochs_done"] < options.epochs:
        return state
    model, card = score_run(run, state, name=name, scale=cfg.name, seed=seed,
                            library_folder=folder, train_data=train_data, validation=validation,
                            network=network, simulation=simulation, models_dir=models_dir)
    model_store.ship_model(model, name, card, folder=ship_to)
    return model_store.read_card(name, folder=ship_to)


def score_run(run: Path, state: dict, *, name: str, scale: str, seed: int, library_folder,
              train_data: dict, validation: dict, network: dict | None = None,
              simulation=None, models_dir=None):
    """Load a finished run's last checkpoint, score it on the validation split
    and write its model card.

    Parameters
    ----------
    run : path
        The run folder (:func:`run_folder`, or any folder given to
        :func:`fcunet_lib.train.train`).
    state : dict
        The finished run's state (returned by :func:`fcunet_lib.train.train`).
    name, scale : str
        Network and scale preset.
    seed : int
        Seed of the library plan and of training.
    library_folder : path
        The library the run was trained on.
    train_data, validation : dict
        The splits (:func:`fcunet_lib.train.load_split`).
    network : dict, optional
        The builder options the run trained (default: the scale's,
        :func:`architecture`).
    simulation : fcunet_lib.config.SimulationSettings, optional
        The settings the library was planned with (default: the scale's); its
        ``other_energies_kv`` go into the card's domain and command.
    models_dir : path, optional
        The folder the command ships to, where not the scale's (for the card's
        command).

    Returns
    -------
    model : keras.Model
        The trained network (uncompiled).
    card : dict
        Architecture, library hash, command, seed, options, training time,
        machine, curves and validation metrics (SSIM on/off zone, MAE).
    """
    import keras

    from . import evaluation, library, model_store, models, train

    model = keras.saving.load_model(Path(run) / state["checkpoint"], compile=False)
    start = time.perf_counter()
    predictions = evaluation.predict_targets(model, validation["cbed"], validation["probe"],
                                             target_scale=state["target_scale"])
    truth = evaluation.targets_like_model(validation["target"], state)
    scores = evaluation.ssim_by_zone(predictions, truth, validation["zone"])
    network = architecture(scale) if network is None else network
    simulation = config.get_scale(scale).simulation if simulation is None else simulation
    options = train.with_legacy_defaults(state["options"])
    card = {
        "model": name,
        "architecture": network,
        "parameters": int(model.count_params()),
        "target_scale": state["target_scale"],
        "library_hash": library.library_hash(library_folder),
        "library_folder": Path(library_folder).name,
        "split_digest": library.split_digest(library_folder),
        "training_domain": TrainingDomain.from_simulation(simulation).to_dict(),
        "command": train_command(scale, name, seed, state["options"]["epochs"],
                                 target_norm=options["target_norm"],
                                 output_activation=network["output_activation"],
                                 fourier_padding=network.get("fourier_padding"),
                                 correlation_skip=network.get("correlation_skip", False),
                                 jit_compile=options["jit_compile"],
                                 mixed_precision=options["mixed_precision"],
                                 other_energies_kv=simulation.other_energies_kv,
                                 models_dir=models_dir),
        "seed": seed,
        "scale": scale,
        "options": state["options"],
        "training_seconds": state["seconds"],
        **({"epoch_seconds": state["epoch_seconds"]} if "epoch_seconds" in state else {}),
        "validation_seconds": time.perf_counter() - start,
        "machine": model_store.machine_description(),
        "curves": state["history"],
        "validation": {"ssim": scores, "mae": state["history"]["val_mean_absolute_error"][-1]},
        "train_patterns": int(len(train_data["cbed"])),
        "validation_patterns": int(len(validation["cbed"])),
    }
    return model, card
