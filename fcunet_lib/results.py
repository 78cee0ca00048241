"""The results contract: every figure's numbers, with their provenance.

Each figure or table notebook ends with one call::

    fl.results.write_results("fig6_materials", numbers, scale=scale, figure=fig)

which writes ``<results_dir>/fig6_materials.png`` and ``.json``.  The JSON holds
the numbers the figure shows under ``"numbers"`` plus the provenance the design
asks for: the scale, the data source, model names with their sha256, the
library hash, package versions and the git commit.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np

from . import atomic, config

__all__ = ["write_results", "read_results", "package_versions", "git_commit", "to_jsonable"]

#: Distributions whose versions are recorded in every result file.
RECORDED_PACKAGES = (
    "fcunet-companion",
    "numpy",
    "scipy",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "abtem",
    "py4DSTEM",
    "pymatgen",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    """Return the installed versions of the packages results depend on.

    Returns
    -------
    dict
        Distribution name -> version string; packages that are not installed
        are left out.
    """
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str:
    """Return the checkout's commit hash, suffixed ``+dirty`` if files changed.

    Returns ``"unknown"`` outside a git checkout.
    """
    root = config.repo_root()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def to_jsonable(value):
    """Convert numpy scalars/arrays, tuples and paths into plain JSON data.

    Raises
    ------
    ValueError
        If a float is NaN or infinite (JSON cannot hold it faithfully; a
        result that is NaN is a bug to report, not a number to store).
    TypeError
        If a value has no JSON representation.
    """
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"result value {number} is not finite: expected a finite number")
        return number
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in a result file: expected numbers, "
                    "strings, lists or mappings")


def write_results(
    name: str,
    numbers: Mapping,
    *,
    scale: str,
    figure=None,
    data: str = "simulated",
    models: Mapping[str, str] | None = None,
    library_hash: str | None = None,
    units: str | None = None,
    folder: str | os.PathLike | None = None,
) -> Path:
    """Write a figure's numbers (and image) with provenance.

    Parameters
    ----------
    name : str
        Result name, e.g. ``"fig6_materials"``; letters, digits and ``_``.
    numbers : mapping
        The numbers the figure shows (JSON-serialisable after
        :func:`to_jsonable`).
    scale : str
        Scale the notebook ran at.
    figure : matplotlib.figure.Figure, optional
        Saved as ``<name>.png`` next to the JSON (150 dpi).
    data : str
        Where the data come from, e.g. ``"simulated"`` or
        ``"simulated stand-in"`` for figures of experiments.
    models : mapping, optional
        Model name -> sha256 of the weights used.
    library_hash : str, optional
        Hash of the simulation library (manifest) used.
    units : str, optional
        Units of the numbers, e.g. ``"percent"``.
    folder : path, optional
        Output folder; defaults to :func:`fcunet_lib.config.results_dir`.

    Returns
    -------
    pathlib.Path
        Path of the JSON file.
    """
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"result name {name!r}: expected letters, digits and underscores")
    if not isinstance(numbers, Mapping) or not numbers:
        raise ValueError("numbers: expected a non-empty mapping of the figure's numbers")
    scale_name = config.get_scale(scale).name
    out = Path(folder) if folder is not None else config.results_dir(scale_name)
    record = {
        "name": name,
        "scale": scale_name,
        "data": data,
        "units": units,
        "numbers": to_jsonable(numbers),
        "models": to_jsonable(dict(models or {})),
        "library_hash": library_hash,
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    if figure is not None:
        import io

        buffer = io.BytesIO()
        # No "Software"/date metadata: identical figures give identical bytes.
        figure.savefig(buffer, format="png", dpi=150, metadata={"Software": None})
        atomic.write_bytes(out / f"{name}.png", buffer.getvalue())
    json_path = out / f"{name}.json"
    atomic.write_bytes(json_path, (json.dumps(record, indent=2, sort_keys=False) + "\n").encode())
    return json_path


def read_results(name: str, *, scale: str, folder: str | os.PathLike | None = None) -> dict:
    """Read a result file written by :func:`write_results`.

    Raises
    ------
    FileNotFoundError
        If the notebook that writes ``name`` has not been run at ``scale``.
    """
    out = Path(folder) if folder is not None else config.results_dir(scale)
    path = out / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the notebook that writes {name!r} "
                                f"at scale {scale!r} first")
    return json.loads(path.read_text())
