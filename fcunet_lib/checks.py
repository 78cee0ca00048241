"""Argument checks shared across the library: positive numbers, counts and seeds.

Each check returns its argument converted to a plain ``float`` or ``int`` and
raises :class:`ValueError` naming the parameter, its unit and the offending
value otherwise, so a caller validates and converts in one line::

    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    batch_size = checks.positive_integer("batch_size", batch_size)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["is_integer", "positive_integer", "positive_number", "reciprocal_pixel_size", "seed"]


def is_integer(value) -> bool:
    """Whether ``value`` is a Python or NumPy integer (``True``/``False`` are not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def positive_number(name: str, value, unit: str | None = None, *, kind: str = "number") -> float:
    """``value`` as a finite, strictly positive float.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : object
        Anything :class:`float` accepts (int, float, NumPy scalar, numeric
        string; ``True`` counts as 1 the way ``float`` reads it).
    unit : str, optional
        Unit shown in brackets after the requirement, e.g. ``"nm"``.
    kind : str
        What a valid value is, for the message ("a positive <kind>").

    Returns
    -------
    float
        ``float(value)``, in the caller's unit.

    Raises
    ------
    ValueError
        ``"<name> must be a number [<unit>]; got <value>"`` if ``float`` cannot
        read it, ``"<name> must be a positive <kind> [<unit>]; got <value>"``
        if it is zero, negative, NaN or infinite.
    """
    units = f" [{unit}]" if unit else ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number{units}; got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive {kind}{units}; got {number!r}")
    return number


def reciprocal_pixel_size(name: str, value) -> float:
    """``value`` as a positive reciprocal pixel size [1/Å] (see :func:`positive_number`)."""
    return positive_number(name, value, "1/Å", kind="reciprocal pixel size")


def positive_integer(name: str, value) -> int:
    """``value`` as an ``int`` of at least 1, e.g. a batch size or a number of passes.

    Parameters
    ----------
    name : str
        Parameter name used in the error message.
    value : int or numpy.integer
        A count; floats (even ``2.0``), strings and booleans are refused.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``"<name> must be a positive integer; got <value>"``.
    """
    return _integer_at_least(name, value, 1, "a positive integer")


def seed(value) -> int:
    """``value`` as a random seed, an ``int`` ≥ 0 (floats, strings and booleans are refused).

    Raises
    ------
    ValueError
        ``"seed must be a non-negative integer; got <value>"``.
    """
    return _integer_at_least("seed", value, 0, "a non-negative integer")


def _integer_at_least(name: str, value, least: int, requirement: str) -> int:
    if not (is_integer(value) and value >= least):
        raise ValueError(f"{name} must be {requirement}; got {value!r}")
    return int(value)
