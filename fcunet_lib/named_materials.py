"""Named materials the figures need: Si, Ge, Si₁₋ₓGeₓ and h-BN.

Built directly from measured lattice constants (:data:`LATTICE_CONSTANTS`),
not selected: Si and Ge on the diamond lattice, the alloy's lattice constant
by Vegard's law (random or virtual-crystal site occupation) and h-BN in
P6₃/mmc.  :func:`named_materials` gives them as table records
(``source="named"``) for :func:`fcunet_lib.materials.select_materials`.
"""

from __future__ import annotations

import math

import numpy as np

from fcunet_lib.material_table import Material, material_record

__all__ = [
    "LATTICE_CONSTANTS",
    "NAMED_MATERIALS",
    "named_materials",
    "named_structure",
    "sige_alloy",
    "vegard_lattice_constant",
]

#: Measured lattice constants of the named materials [Å].
LATTICE_CONSTANTS: dict[str, dict[str, float]] = {
    "Si": {"a": 5.431},
    "Ge": {"a": 5.658},
    "h-BN": {"a": 2.504, "c": 6.661},
}
#: Names accepted by :func:`named_structure` (aliases map to these).
NAMED_MATERIALS: tuple[str, ...] = ("Si", "Ge", "h-BN")
_ALIASES = {"si": "Si", "ge": "Ge", "h-bn": "h-BN", "hbn": "h-BN", "bn": "h-BN"}


def vegard_lattice_constant(x_ge: float) -> float:
    """Lattice constant of Si₁₋ₓGeₓ by Vegard's law [Å].

    Parameters
    ----------
    x_ge : float
        Ge fraction, in [0, 1].

    Returns
    -------
    float
        ``(1 − x)·a_Si + x·a_Ge`` with a_Si = 5.431 Å, a_Ge = 5.658 Å.

    Raises
    ------
    ValueError
        If ``x_ge`` is not a finite number in [0, 1].
    """
    x = _check_fraction(x_ge)
    return (1.0 - x) * LATTICE_CONSTANTS["Si"]["a"] + x * LATTICE_CONSTANTS["Ge"]["a"]


def named_structure(name: str):
    """Conventional cell of a named material with its measured lattice constants.

    Parameters
    ----------
    name : str
        ``"Si"`` (diamond, a = 5.431 Å), ``"Ge"`` (diamond, a = 5.658 Å) or
        ``"h-BN"`` (P6₃/mmc, a = 2.504 Å, c = 6.661 Å; aliases ``"hBN"``,
        ``"BN"``).  Case-insensitive.

    Returns
    -------
    pymatgen.core.Structure
        8-atom cubic cell (Si, Ge) or 4-atom hexagonal cell (h-BN).

    Raises
    ------
    ValueError
        If ``name`` is not a known material.
    """
    canonical = _ALIASES.get(str(name).strip().lower()) if isinstance(name, str) else None
    if canonical is None:
        raise ValueError(
            f"unknown named material {name!r}: expected one of {', '.join(NAMED_MATERIALS)} "
            "(use sige_alloy for Si1-xGex)"
        )
    if canonical == "h-BN":
        return _hbn_structure(**LATTICE_CONSTANTS["h-BN"])
    return _diamond_structure(canonical, LATTICE_CONSTANTS[canonical]["a"])


def sige_alloy(x_ge: float, *, mode: str = "random", supercell=(2, 2, 2), seed: int = 0):
    """Si₁₋ₓGeₓ on the diamond lattice, lattice constant by Vegard's law.

    Parameters
    ----------
    x_ge : float
        Ge fraction, in [0, 1].
    mode : {"random", "virtual"}
        ``"random"``: a supercell of the 8-atom cubic cell with exactly
        ``round(x·N)`` of its N sites Ge, chosen at random (no relaxation).
        ``"virtual"``: the 8-atom cell with every site occupied Si:(1−x),
        Ge:x (virtual-crystal approximation; partial occupancies).
    supercell : tuple of 3 int
        Repetitions of the cubic cell (``"random"`` only).
    seed : int
        Seed of the random site assignment (``"random"`` only).

    Returns
    -------
    pymatgen.core.Structure
        Cubic cell of edge ``supercell[i] · a(x)`` [Å].

    Raises
    ------
    ValueError
        If ``x_ge`` is outside [0, 1], ``mode`` is unknown or ``supercell``
        is not three positive integers.
    """
    x = _check_fraction(x_ge)
    a = vegard_lattice_constant(x)
    if mode == "virtual":
        species = {"Si": 1.0 - x, "Ge": x} if 0.0 < x < 1.0 else ("Ge" if x == 1.0 else "Si")
        return _diamond_structure(species, a)
    if mode != "random":
        raise ValueError(f"unknown mode {mode!r}: expected 'random' or 'virtual'")
    reps = _check_supercell(supercell)
    cell = _diamond_structure("Si", a)
    cell.make_supercell(reps)
    n_ge = int(round(x * len(cell)))
    rng = np.random.default_rng(seed)
    for index in rng.choice(len(cell), size=n_ge, replace=False):
        cell.replace(int(index), "Ge")
    return cell


def named_materials(*, x_ge: float = 0.18, seed: int = 0) -> list[Material]:
    """The named materials of Figs. 3–5 as table records.

    Parameters
    ----------
    x_ge : float
        Ge fraction of the alloy record (the paper's Si₀.₈₂Ge₀.₁₈).
    seed : int
        Seed of the alloy's random site assignment (2×2×2 supercell).

    Returns
    -------
    list of Material
        Si, Ge, h-BN and the random Si₁₋ₓGeₓ alloy, ``source="named"``.
    """
    prototypes = {"Si": "A_cF8_227_a.C", "Ge": "A_cF8_227_a.C", "h-BN": "AB_hP4_194_c_d.BN"}
    records = [material_record(f"named-{name}", named_structure(name), source="named",
                               prototype=prototypes[name]) for name in NAMED_MATERIALS]
    alloy = sige_alloy(x_ge, mode="random", supercell=(2, 2, 2), seed=seed)
    label = f"Si{1 - x_ge:.2f}Ge{x_ge:.2f}"
    records.append(material_record(f"named-{label}", alloy, source="named",
                                   prototype="A_cF8_227_a.C", formula=label))
    return records


def _diamond_structure(species, a: float):
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(a), [species], [[0.0, 0.0, 0.0]])


def _hbn_structure(a: float, c: float):
    from pymatgen.core import Lattice, Structure

    # B on 2c, N on 2d: each layer a B–N honeycomb, B above N (AA' stacking).
    return Structure.from_spacegroup(
        194, Lattice.hexagonal(a, c), ["B", "N"], [[1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.75]]
    )


def _check_fraction(x) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"x_ge must be a number in [0, 1], got {x!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"x_ge must be in [0, 1], got {x!r}")
    return value


def _check_supercell(supercell) -> tuple[int, int, int]:
    reps = tuple(supercell) if isinstance(supercell, (tuple, list)) else ()
    if len(reps) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in reps):
        raise ValueError(f"supercell must be three positive integers, got {supercell!r}")
    return tuple(int(n) for n in reps)

