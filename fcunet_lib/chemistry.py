"""Element order, reduced formulas and atomic numbers, as the materials table writes them.

One convention for the whole materials pipeline (:mod:`fcunet_lib.prototypes`,
:mod:`fcunet_lib.decoration`, :mod:`fcunet_lib.material_table`): elements are
ordered by Pauling electronegativity (ties by symbol), so a formula such as
``"CaTiO3"`` and a prototype's site roles always list elements the same way.
"""

from __future__ import annotations

__all__ = ["atomic_number", "ordered_symbols", "reduced_formula"]


def ordered_symbols(composition) -> list[str]:
    """Element symbols of ``composition`` by increasing electronegativity, ties by symbol.

    Parameters
    ----------
    composition : pymatgen.core.Composition

    Returns
    -------
    list of str
    """
    return [e.symbol for e in sorted(composition.elements, key=lambda e: (e.X, e.symbol))]


def reduced_formula(composition) -> str:
    """Reduced formula, elements by electronegativity, no polyanion grouping.

    Parameters
    ----------
    composition : pymatgen.core.Composition
        Species or elements; oxidation states are dropped.

    Returns
    -------
    str
        E.g. ``"CaTiO3"``; amounts of 1 are omitted, integers written without
        a decimal point, other amounts with ``:g``.
    """
    reduced = composition.element_composition.reduced_composition
    parts = []
    for symbol in ordered_symbols(reduced):
        amount = reduced[symbol]
        if abs(amount - 1) < 1e-8:
            text = ""
        else:
            text = f"{amount:.0f}" if float(amount).is_integer() else f"{amount:g}"
        parts.append(symbol + text)
    return "".join(parts)


def atomic_number(symbol: str) -> int:
    """Atomic number Z of a chemical symbol such as ``"Si"``.

    Raises
    ------
    ValueError
        If ``symbol`` is not an element.
    """
    from pymatgen.core import Element

    try:
        return Element(symbol).Z
    except (ValueError, KeyError):
        raise ValueError(
            f"unknown element {symbol!r}: expected a chemical symbol like 'Si'") from None
