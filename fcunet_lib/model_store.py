"""Shipped models: ``models/<name>.keras`` with a card, checked on load.

Each shipped model is two files in ``models/``:

``<name>.keras``
    The Keras 3 model (architecture, weights; no optimizer state).
``<name>.json``
    Its card: architecture config, library manifest hash, the exact command
    that trains it, seeds, training time and machine, curves, validation
    metrics and the sha256 of the ``.keras`` file.

:func:`load_model` recomputes the sha256 and refuses a file that does not
match its card, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

from . import atomic, config

__all__ = ["ModelChecksumError", "sha256_of", "ship_model", "read_card", "load_model",
           "shipped_models", "machine_description", "cpu_description", "VECTOR_FLAGS"]


class ModelChecksumError(RuntimeError):
    """A shipped weight file does not match the sha256 of its card."""


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: CPU flags that decide whether bf16 and wide vectors run in hardware.
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_description(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict:
    """The CPU's model name and which of :data:`VECTOR_FLAGS` it has.

    Read from Linux's ``/proc/cpuinfo``; empty where there is none. The same
    network trains 2-3x faster on one of this workplace's machines than on
    another, and ``mixed_bfloat16`` only pays where bf16 is in hardware, so
    timings are only comparable with these beside them.

    Returns
    -------
    dict
        ``cpu_model`` (str) and ``cpu_flags`` (list of str), or ``{}``.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"cpu_model": fields.get("model name", "unknown"),
            "cpu_flags": [flag for flag in VECTOR_FLAGS if flag in flags]}


def machine_description() -> dict:
    """Processor, core count, platform and CPU model (:func:`cpu_description`)
    of this machine, for model cards and timing checks."""
    return {"processor": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform(), **cpu_description()}


def ship_model(model, name: str, card: dict, *, folder: str | os.PathLike | None = None) -> Path:
    """Save ``model`` without optimizer state and write its card.

    Parameters
    ----------
    model : keras.Model
    name : str
        File stem, e.g. ``"fcunet"``.
    card : dict
        Card fields (config, library hash, command, seeds, timings, curves,
        metrics); ``name``, ``file`` and ``sha256`` are added.
    folder : path, optional
        Default: the repository's ``models/``.

    Returns
    -------
    pathlib.Path
        The ``.keras`` file.
    """
    folder = Path(folder) if folder is not None else config.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.keras"
    tmp = folder / f".{name}.tmp.keras"
    model.save(tmp, include_optimizer=False) if _accepts_include_optimizer(model) else model.save(tmp)
    os.replace(tmp, target)
    full_card = {"name": name, "file": target.name, "sha256": sha256_of(target), **card}
    atomic.write_text(folder / f"{name}.json", json.dumps(full_card, indent=1) + "\n")
    return target


def _accepts_include_optimizer(model) -> bool:
    import inspect

    return "include_optimizer" in inspect.signature(model.save).parameters


def read_card(name: str, *, folder: str | os.PathLike | None = None) -> dict:
    """Return the card of a shipped model.

    Raises
    ------
    FileNotFoundError
        If no such model is shipped; the message lists those that are.
    """
    folder = Path(folder) if folder is not None else config.models_dir()
    path = folder / f"{name}.json"
    if not path.is_file():
        available = ", ".join(shipped_models(folder=folder)) or "none"
        raise FileNotFoundError(f"no shipped model {name!r} in {folder}: available: {available}")
    return json.loads(path.read_text())


def shipped_models(*, folder: str | os.PathLike | None = None) -> list[str]:
    """Names of the models that have a card in ``folder``."""
    folder = Path(folder) if folder is not None else config.models_dir()
    return sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.keras").is_file())


def load_model(name: str = "fcunet", *, folder: str | os.PathLike | None = None):
    """Load a shipped model after checking its sha256 against its card.

    Parameters
    ----------
    name : str
        ``"fcunet"``, ``"unet"`` or ``"spectral_unet"`` (or any shipped name).
    folder : path, optional
        Default: the repository's ``models/``.

    Returns
    -------
    keras.Model
        With the card attached as ``model.card``.

    Raises
    ------
    FileNotFoundError
        If the model or its weight file is missing.
    ModelChecksumError
        If the weight file does not match its card (damaged or replaced).
    """
    folder = Path(folder) if folder is not None else config.models_dir()
    card = read_card(name, folder=folder)
    weights = folder / card["file"]
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing (named by {folder / (name + '.json')})")
    actual = sha256_of(weights)
    if actual != card["sha256"]:
        raise ModelChecksumError(f"{weights} is damaged or replaced: sha256 {actual[:12]}… does "
                                 f"not match its card's {card['sha256'][:12]}…")
    import keras

    from . import layers, train  # noqa: F401  (registers the custom objects)

    model = keras.saving.load_model(weights, compile=False)
    model.card = card
    return model
