"""FCU-Net companion: the thin shared library behind the notebooks.

Submodules are imported lazily on first attribute access, so ``import
fcunet_lib as fl`` is instant and ``fl.config`` does not pull in TensorFlow.

The public API for microscopists (see DESIGN.md)::

    import fcunet_lib as fl
    model = fl.load_model("fcunet")
    bv = fl.find_disks_fcunet(data, probe, model=model, pixel_size=...)
    bv_cc = fl.find_disks_correlation(data, probe, pixel_size=...)
    strain = fl.strain_map(bv, reference=mask)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "atomic",
    "augment",
    "cli",
    "config",
    "disks",
    "epoch_stream",
    "evaluation",
    "layers",
    "library",
    "library_plan",
    "materials",
    "materials_online",
    "metrics",
    "model_store",
    "models",
    "multilayer",
    "orientation",
    "plots",
    "progress",
    "results",
    "runner",
    "sige",
    "simulate",
    "strain",
    "strain_cli",
    "targets",
    "train",
    "training_domain",
    "training_run",
    "tune",
    "userdata",
}

# Public functions re-exported at the top level: name -> submodule.
_FUNCTIONS = {
    "load_model": "model_store",
    "find_disks_fcunet": "disks",
    "find_disks_correlation": "disks",
    "strain_map": "strain",
    "get_scale": "config",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        module = importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | set(_FUNCTIONS))
