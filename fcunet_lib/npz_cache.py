"""On-disk cache of simulated arrays: one ``.npz`` per distinct simulation.

The figure notebooks (Figs. 3–5) simulate a few distinct columns and share
them between scan positions; each simulation is stored under a key derived
from everything that determines it, so a rerun simulates nothing. Writes go
through :mod:`fcunet_lib.atomic` (a kill never leaves a torn file) and a
damaged or unreadable file reads as missing, so it is simply simulated again.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from fcunet_lib import atomic

__all__ = ["cache_key", "load_arrays", "save_arrays"]


def cache_key(payload: dict) -> str:
    """20 hex digits of the sha256 of ``payload`` as sorted JSON (tuples as lists)."""
    text = json.dumps(payload, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def load_arrays(path: Path | None, names) -> tuple | None:
    """The arrays ``names`` stored in ``path``, or ``None`` if absent or damaged."""
    if path is None or not Path(path).is_file():
        return None
    try:
        with np.load(path) as stored:
            return tuple(stored[name] for name in names)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def save_arrays(path: Path, **arrays) -> None:
    """Store named arrays in ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic.write_bytes(path, buffer.getvalue())
