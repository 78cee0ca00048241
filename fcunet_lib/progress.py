"""One switchable progress bar for every long job.

Bars are shown unless ``FCUNET_PROGRESS=0`` or ``TQDM_DISABLE=1`` is set (the
test suite sets both), or :func:`set_enabled` turned them off.
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress", "set_enabled", "enabled"]

_override: bool | None = None


def set_enabled(flag: bool | None) -> None:
    """Force progress bars on (``True``) or off (``False``); ``None`` restores
    the environment's choice."""
    global _override
    _override = flag


def enabled() -> bool:
    """Whether progress bars are currently shown."""
    if _override is not None:
        return _override
    if os.environ.get("FCUNET_PROGRESS", "1") == "0":
        return False
    return os.environ.get("TQDM_DISABLE", "0") in ("", "0")


def progress(iterable=None, *, total=None, desc=None, unit="it", initial=0):
    """Wrap ``iterable`` (or a manual counter) in a tqdm bar with ETA.

    Parameters
    ----------
    iterable : iterable, optional
        Items to iterate; omit for a manual bar updated with ``.update(n)``.
    total : int, optional
        Number of items (for ETA when ``iterable`` has no ``len``).
    desc : str, optional
        Label in front of the bar.
    unit : str
        Name of one item, e.g. ``"pattern"``.
    initial : int
        Items already done (resumed jobs).
    """
    return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial,
                disable=not enabled(), dynamic_ncols=True)
