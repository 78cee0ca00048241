"""pymatgen's library of AFLOW crystallographic prototypes, and which to decorate.

The 288 prototypes of pymatgen's copy of the AFLOW library, each in its
conventional standard cell (:func:`prototype_library`, cached), looked up by
key, AFLOW label or Fig. 6 name (:func:`get_prototype`); which of the paper's
Fig. 6 prototypes the library holds (:func:`fig6_status`); and the seeded
choice of prototypes a selection decorates (:func:`choose_prototypes`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from fcunet_lib.chemistry import ordered_symbols, reduced_formula

__all__ = [
    "FIG6_PROTOTYPES",
    "Prototype",
    "choose_prototypes",
    "fig6_status",
    "get_prototype",
    "prototype_library",
]

#: Prototypes of Fig. 6b–e: paper's name → (AFLOW label, example formula).
FIG6_PROTOTYPES: dict[str, tuple[str, str]] = {
    "CaTiO3": ("AB3C_cP5_221_a_c_b", "CaTiO3"),  # cubic perovskite, E2_1
    "FeB": ("AB_oP8_62_c_c", "FeB"),  # B27
    "Fe3C": ("AB3_oP16_62_c_cd", "Fe3C"),  # cementite, D0_11
    "Zn3P2": ("A3B2_tP40_137_cdf_3g", "Zn3P2"),  # not in pymatgen's 288
}


@dataclass(frozen=True)
class Prototype:
    """One AFLOW prototype in its conventional standard cell.

    Attributes
    ----------
    key : str
        Unique key ``"<AFLOW label>.<example formula>"``.
    aflow : str
        AFLOW label.
    formula : str
        Example compound's reduced formula.
    name : str
        Mineral/common name from the library ("" when none).
    spacegroup : int
        Space-group number of the conventional cell (spglib, symprec 0.01 Å).
    structure : pymatgen.core.Structure
        Example structure, conventional standard cell.
    """

    key: str
    aflow: str
    formula: str
    name: str
    spacegroup: int
    structure: object = field(repr=False)

    @property
    def n_sites(self) -> int:
        """Atoms in the conventional cell."""
        return len(self.structure)

    @property
    def elements(self) -> list[str]:
        """Element symbols of the example, ordered by electronegativity."""
        return ordered_symbols(self.structure.composition)



@functools.lru_cache(maxsize=1)
def _library() -> tuple[Prototype, ...]:
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    prototypes = []
    for entry in AFLOW_PROTOTYPE_LIBRARY:
        tags = entry["tags"]
        example = entry["snl"].structure
        analyzer = SpacegroupAnalyzer(example, symprec=0.01)
        conventional = analyzer.get_conventional_standard_structure()
        formula = reduced_formula(example.composition)
        prototypes.append(Prototype(
            key=f"{tags['aflow']}.{formula}",
            aflow=tags["aflow"],
            formula=formula,
            name=str(tags.get("mineral") or ""),
            spacegroup=int(analyzer.get_space_group_number()),
            structure=conventional,
        ))
    return tuple(prototypes)


def prototype_library(*, max_sites: int | None = None) -> list[Prototype]:
    """pymatgen's AFLOW prototypes (288) in their conventional standard cells.

    Parameters
    ----------
    max_sites : int, optional
        Keep only prototypes whose conventional cell has at most this many
        atoms.

    Returns
    -------
    list of Prototype
        In the library's order.  The first call costs ≈ 2 s (symmetry
        analysis); later calls are cached.
    """
    if max_sites is not None and max_sites < 1:
        raise ValueError(f"max_sites must be a positive number of atoms, got {max_sites!r}")
    return [p for p in _library() if max_sites is None or p.n_sites <= max_sites]


def get_prototype(name: str) -> Prototype:
    """Look up a prototype by key, unique AFLOW label or Fig. 6 name.

    Parameters
    ----------
    name : str
        ``"AB_oP8_62_c_c.FeB"`` (key), ``"AB3C_cP5_221_a_c_b"`` (an AFLOW
        label that occurs once) or ``"CaTiO3"``/``"FeB"``/``"Fe3C"`` (the
        Fig. 6 names).

    Returns
    -------
    Prototype

    Raises
    ------
    ValueError
        If nothing matches, the label is ambiguous, or the Fig. 6 prototype is
        not in pymatgen's library (Zn3P2).
    """
    library = _library()
    if name in FIG6_PROTOTYPES:
        label, formula = FIG6_PROTOTYPES[name]
        name = f"{label}.{formula}"
    by_key = {p.key: p for p in library}
    if name in by_key:
        return by_key[name]
    with_label = [p for p in library if p.aflow == name]
    if len(with_label) == 1:
        return with_label[0]
    if with_label:
        keys = ", ".join(p.key for p in with_label)
        raise ValueError(
            f"AFLOW label {name!r} is ambiguous in pymatgen's library: use one of {keys}")
    raise ValueError(
        f"unknown prototype {name!r}: expected a key '<AFLOW label>.<formula>' or a unique "
        f"AFLOW label from pymatgen's library of {len(library)} prototypes, or one of "
        f"{', '.join(FIG6_PROTOTYPES)} (Zn3P2 is not in that library)"
    )


def fig6_status() -> dict[str, dict]:
    """Which of the Fig. 6 prototypes (CaTiO3, FeB, Fe3C, Zn3P2) pymatgen's library holds.

    Returns
    -------
    dict
        Per paper name: ``aflow`` label, ``key`` (None when absent),
        ``present`` and, when absent, a ``note`` saying so (for figures/JSON).
    """
    keys = {p.key for p in _library()}
    status = {}
    for name, (label, formula) in FIG6_PROTOTYPES.items():
        key = f"{label}.{formula}"
        present = key in keys
        status[name] = {"aflow": label, "key": key if present else None, "present": present}
        if not present:
            status[name]["note"] = (
                f"the {name} prototype ({label}) is not among the {len(keys)} prototypes of "
                "pymatgen's AFLOW library: no data"
            )
    return status


def choose_prototypes(n_prototypes: int, *, max_sites: int, seed: int = 0) -> list[Prototype]:
    """Choose the prototypes to decorate: the Fig. 6 ones plus a seeded sample.

    Parameters
    ----------
    n_prototypes : int
        Number of prototypes wanted; at least the Fig. 6 prototypes present in
        the library are always included (even above ``max_sites``), the rest
        are drawn uniformly from those with at most ``max_sites`` atoms.  Asking
        for more than exist gives all of them.
    max_sites : int
        Largest conventional cell [atoms] of the sampled prototypes.
    seed : int
        Seed of the draw.

    Returns
    -------
    list of Prototype
        In library order.

    Raises
    ------
    ValueError
        If ``n_prototypes`` < 1 or ``max_sites`` < 1.
    """
    if not isinstance(n_prototypes, (int, np.integer)) or n_prototypes < 1:
        raise ValueError(f"n_prototypes must be a positive integer, got {n_prototypes!r}")
    required = {s["key"] for s in fig6_status().values() if s["present"]}
    eligible = [p for p in prototype_library(max_sites=max_sites) if p.key not in required]
    n_extra = max(0, min(int(n_prototypes) - len(required), len(eligible)))
    rng = np.random.default_rng([int(seed), 0x9E37])
    extra = {eligible[i].key for i in rng.choice(len(eligible), size=n_extra, replace=False)}
    return [p for p in _library() if p.key in required or p.key in extra]


