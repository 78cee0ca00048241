"""Select the crystal systems of the diffraction library (the paper's Fig. 6).

The paper matched ≈139k Materials Project (MP) structures against ≈500 AFLOW
prototypes and sampled ≈1000 crystal systems following the resulting
distribution.  MP is not reachable offline, so the default path here is a
*stand-in* built only from data that ships with pymatgen:

1. **Prototypes** — the 288 entries of pymatgen's copy of the AFLOW library of
   crystallographic prototypes, each brought to its conventional standard cell.
2. **Decoration** — each prototype's elements are replaced by chemically
   plausible ones using the data-mined ionic substitution probabilities of
   Hautier et al. (pymatgen's ``SubstitutionPredictor``).  Compositions with a
   charge-balanced oxidation-state assignment are decorated ionically
   (charge balance required); the others (elements, intermetallics) use each
   element's most frequently observed ion as a chemical-similarity proxy.
3. **Rescaling** — the decorated cell is rescaled from the prototype's
   measured cell by reference lattice scaling with atomic radii (pymatgen's
   ``RLSVolumePredictor``).  pymatgen's bond-length predictor
   (``DLSVolumePredictor``) was tried first: on a sample of 315 candidates it
   hit its recommended ×0.5–×1.5 bounds for 46 %, giving many identical,
   clamped cells, so the substitution-specific RLS scheme is used.
4. **Rejection** — cells with too-short interatomic distances (relative to
   covalent radii) or unphysical volumes are dropped; duplicates are removed
   with ``StructureMatcher``.
5. **Sampling** — ``n_systems`` systems are drawn with probability
   proportional to each prototype's *estimated number of plausible
   decorations* (decorations above the probability threshold × the fraction of
   tried ones that passed step 4).  This weight stands in for the number of MP
   structures per prototype; it is a property of the substitution model, not
   of a database of known compounds.

The online path (:mod:`fcunet_lib.materials_online`) replaces steps 1–4 with
real MP structures when an API key is available.  Named materials the figures
need (Si, Ge, Si₁₋ₓGeₓ, h-BN) are built directly with their measured lattice
constants.

On-disk format (written by :func:`save_materials`, read by
:func:`load_materials`), a folder holding:

``materials.csv``
    One row per system, columns :data:`COLUMNS`; lattice lengths [Å], angles
    [degrees]; ``decoration`` is a JSON object mapping each prototype element
    (site role) to the element placed there.
``structures.json``
    ``{id: pymatgen Structure.as_dict()}`` for every row (the conventional cell
    the lattice columns describe).
``manifest.json``
    Format name and version, SHA-256 of the two files above, the settings and
    seed, and the selection's metadata (prototype weights, Fig. 6 prototypes).
    Written last: a folder without a valid manifest is incomplete.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import atomic

__all__ = [
    "COLUMNS",
    "SOURCES",
    "DATA_NOTE",
    "FIG6_PROTOTYPES",
    "LATTICE_CONSTANTS",
    "NAMED_MATERIALS",
    "Material",
    "MaterialsTable",
    "Prototype",
    "Decoration",
    "Plausibility",
    "vegard_lattice_constant",
    "named_structure",
    "sige_alloy",
    "named_materials",
    "prototype_library",
    "get_prototype",
    "choose_prototypes",
    "decorations",
    "decorate",
    "plausibility",
    "deduplicate",
    "sample_systems",
    "fig6_status",
    "material_record",
    "select_materials",
    "save_materials",
    "load_materials",
    "ensure_materials",
    "prototype_summary",
]

#: Columns of ``materials.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "id", "formula", "prototype", "prototype_key", "prototype_formula", "spacegroup",
    "a", "b", "c", "alpha", "beta", "gamma", "n_sites", "source", "probability", "decoration",
)
#: Allowed values of the ``source`` column.
SOURCES: tuple[str, ...] = ("aflow-substitution", "named", "materials-project")
#: One-line statement of where the default data come from (figure titles, JSON).
DATA_NOTE = (
    "pymatgen's AFLOW prototype library (288 prototypes) decorated by data-mined ionic "
    "substitution; a stand-in for the paper's Materials Project distribution"
)
#: Prototypes of Fig. 6b–e: paper's name → (AFLOW label, example formula).
FIG6_PROTOTYPES: dict[str, tuple[str, str]] = {
    "CaTiO3": ("AB3C_cP5_221_a_c_b", "CaTiO3"),  # cubic perovskite, E2_1
    "FeB": ("AB_oP8_62_c_c", "FeB"),  # B27
    "Fe3C": ("AB3_oP16_62_c_cd", "Fe3C"),  # cementite, D0_11
    "Zn3P2": ("A3B2_tP40_137_cdf_3g", "Zn3P2"),  # not in pymatgen's 288
}
#: Measured lattice constants of the named materials [Å].
LATTICE_CONSTANTS: dict[str, dict[str, float]] = {
    "Si": {"a": 5.431},
    "Ge": {"a": 5.658},
    "h-BN": {"a": 2.504, "c": 6.661},
}
#: Names accepted by :func:`named_structure` (aliases map to these).
NAMED_MATERIALS: tuple[str, ...] = ("Si", "Ge", "h-BN")
_ALIASES = {"si": "Si", "ge": "Ge", "h-bn": "h-BN", "hbn": "h-BN", "bn": "h-BN"}

_FORMAT = "fcunet-materials"
_FORMAT_VERSION = 1
#: Version of the selection algorithm: a saved table made by another one is reselected.
_ALGORITHM_VERSION = 2
#: Smallest allowed distance / (sum of covalent radii) after rescaling.
_MIN_DISTANCE_RATIO = 0.6
#: Allowed volume per atom [Å³].
_VOLUME_PER_ATOM = (2.5, 100.0)
#: Allowed packing fraction relative to the prototype's own (factor either way).
_PACKING_FACTOR = 2.0
#: Substituted elements: those with tabulated covalent radii (Z ≤ 96) ...
_MAX_Z = 96
#: ... except noble gases, whose compounds are too rare to decorate prototypes with.
_NOBLE_GASES = frozenset({"He", "Ne", "Ar", "Kr", "Xe", "Rn"})


# --------------------------------------------------------------------------- #
# Records
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Material:
    """One crystal system of the table.

    Attributes
    ----------
    id : str
        Unique, stable identifier (``formula.prototype_key`` for generated
        systems, ``named-<name>`` for named ones, the MP id for MP ones).
    formula : str
        Reduced formula, elements ordered by electronegativity.
    prototype : str
        AFLOW prototype label (not unique: the library repeats some labels).
    prototype_key : str
        Unique prototype key, ``"<AFLOW label>.<example formula>"``.
    prototype_formula : str
        Formula of the prototype's example compound.
    spacegroup : int
        International space-group number.
    a, b, c : float
        Lattice lengths of the stored cell [Å].
    alpha, beta, gamma : float
        Lattice angles of the stored cell [degrees].
    n_sites : int
        Atoms in the stored cell.
    source : str
        One of :data:`SOURCES`.
    probability : float
        Substitution probability of the decoration (1 for the prototype's own
        compound, named and MP systems).
    decoration : dict of str to str
        Prototype element (site role) → element placed on those sites.
    structure : pymatgen.core.Structure
        The cell, conventional standard setting for generated systems.
    """

    id: str
    formula: str
    prototype: str
    prototype_key: str
    prototype_formula: str
    spacegroup: int
    a: float
    b: float
    c: float
    alpha: float
    beta: float
    gamma: float
    n_sites: int
    source: str
    probability: float
    decoration: dict[str, str]
    structure: object = field(repr=False)

    def row(self) -> dict:
        """Return the table row (everything but the structure) as plain data."""
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass
class MaterialsTable:
    """The selected crystal systems and how they were selected.

    Attributes
    ----------
    materials : tuple of Material
        The systems, in a deterministic order.
    metadata : dict
        JSON-serialisable provenance: settings, seed, prototype statistics
        (weights used for sampling), Fig. 6 prototypes and what is missing.
    """

    materials: tuple[Material, ...]
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        self.materials = tuple(self.materials)
        ids = [m.id for m in self.materials]
        if len(set(ids)) != len(ids):
            duplicated = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"material ids must be unique; repeated: {duplicated}")

    def __len__(self) -> int:
        return len(self.materials)

    def __iter__(self) -> Iterator[Material]:
        return iter(self.materials)

    def __getitem__(self, material_id: str) -> Material:
        for material in self.materials:
            if material.id == material_id:
                return material
        raise KeyError(f"no material with id {material_id!r}")

    @property
    def ids(self) -> list[str]:
        """Identifiers in table order."""
        return [m.id for m in self.materials]

    def by_source(self, source: str) -> list[Material]:
        """Return the materials whose ``source`` is ``source``.

        Raises
        ------
        ValueError
            If ``source`` is not one of :data:`SOURCES`.
        """
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}: expected one of {SOURCES}")
        return [m for m in self.materials if m.source == source]

    def rows(self) -> list[dict]:
        """Return the table as a list of plain dicts (one per material)."""
        return [m.row() for m in self.materials]

    def to_dataframe(self):
        """Return the table as a pandas DataFrame (without structures)."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(COLUMNS))


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
        return _ordered_symbols(self.structure.composition)


@dataclass(frozen=True)
class Decoration:
    """A substitution of a prototype's elements.

    Attributes
    ----------
    mapping : dict of str to str
        Prototype element → new element.
    probability : float
        Hautier substitution probability (1 for the identity).
    route : str
        ``"identity"``, ``"ionic"`` (charge balanced) or ``"element"`` (most
        common ion of each element as a similarity proxy, no charge balance).
    """

    mapping: dict[str, str]
    probability: float
    route: str


@dataclass(frozen=True)
class Plausibility:
    """Outcome of :func:`plausibility`.

    Attributes
    ----------
    ok : bool
        Whether every check passed.
    min_distance_ratio : float
        Smallest interatomic distance / sum of covalent radii.
    volume_per_atom : float
        Cell volume per atom [Å³].
    packing_fraction : float
        Covalent-sphere volume / cell volume.
    reason : str
        Why it failed ("" when ``ok``).
    """

    ok: bool
    min_distance_ratio: float
    volume_per_atom: float
    packing_fraction: float
    reason: str


# --------------------------------------------------------------------------- #
# Named materials
# --------------------------------------------------------------------------- #
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


# --------------------------------------------------------------------------- #
# Prototypes
# --------------------------------------------------------------------------- #
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
        formula = _formula(example.composition)
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


# --------------------------------------------------------------------------- #
# Decoration, rescaling, rejection
# --------------------------------------------------------------------------- #
@functools.lru_cache(maxsize=4)
def _predictor(threshold: float):
    from pymatgen.analysis.structure_prediction.substitution_probability import (
        SubstitutionPredictor,
    )

    return SubstitutionPredictor(threshold=threshold)


def decorations(prototype: Prototype, *, threshold: float = 1e-3) -> list[Decoration]:
    """All plausible substitutions of a prototype's elements, identity first.

    Parameters
    ----------
    prototype : Prototype
        The prototype to decorate.
    threshold : float
        Probability threshold of pymatgen's ``SubstitutionPredictor`` (the
        product of the conditional substitution probabilities), in (0, 1).

    Returns
    -------
    list of Decoration
        The identity, then substitutions with distinct elements of Z ≤ 96
        (no noble gases), charge balanced on the ionic route, sorted by
        decreasing probability (rounded to 10 digits, ties broken by the
        mapping, so the order does not depend on Python's hash seed).
        Costs from milliseconds (elements) to a few seconds (quaternaries);
        cached per prototype and threshold.
    """
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise ValueError(f"substitution threshold must be in (0, 1), got {threshold!r}")
    return list(_decorations(prototype.key, float(threshold)))


@functools.lru_cache(maxsize=512)
def _decorations(key: str, threshold: float) -> tuple[Decoration, ...]:
    prototype = get_prototype(key)
    predictor = _predictor(threshold)
    composition = prototype.structure.composition
    identity = Decoration({s: s for s in prototype.elements}, 1.0, "identity")
    species, route = _species_for(composition, predictor.p)
    if species is None:
        return (identity,)
    representative = _representative_ions(predictor.p) if route == "element" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictions = predictor.list_prediction(species, to_this_composition=False)
    amounts = {s: composition[s.symbol] for s in species}
    found = {}
    for prediction in predictions:
        substitutions = prediction["substitutions"]
        charge = sum(substitutions[s].oxi_state * amounts[s] for s in species)
        if route == "ionic" and abs(charge) > 1e-8:
            continue
        if route == "element" and any(representative[t.symbol] != t
                                      for t in substitutions.values()):
            continue  # element route: elements stand for their representative ion only
        mapping = {s.symbol: substitutions[s].symbol for s in species}
        new = list(mapping.values())
        if len(set(new)) != len(new) or any(_z(e) > _MAX_Z or e in _NOBLE_GASES for e in new):
            continue
        key = tuple(sorted(mapping.items()))
        if mapping == identity.mapping:
            continue
        # pymatgen sums its normalisations over a set, so the last digits depend on
        # the hash seed: round them away to keep the order (and the table) reproducible.
        probability = float(f"{prediction['probability']:.10g}")
        # Several oxidation states can give the same elements: keep the likeliest.
        if key not in found or probability > found[key].probability:
            found[key] = Decoration(mapping, probability, route)
    ordered = sorted(found.values(), key=lambda d: (-d.probability, sorted(d.mapping.items())))
    return (identity, *ordered)


def _species_for(composition, probability):
    """Ionic species of a composition for the substitution model, and the route."""
    from pymatgen.core import Species

    allowed = probability.species
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            guesses = composition.oxi_state_guesses(max_sites=-1)
        except ValueError:
            guesses = ()
    for guess in guesses:
        if all(float(v).is_integer() for v in guess.values()):
            species = [Species(el, int(v)) for el, v in guess.items()]
            if all(s in allowed for s in species):
                return sorted(species, key=str), "ionic"
    representative = _representative_ions(probability)
    if any(element.symbol not in representative for element in composition.elements):
        return None, "none"
    return sorted((representative[e.symbol] for e in composition.elements), key=str), "element"


def _representative_ions(probability) -> dict:
    """Each element's most frequently observed ion in the substitution data."""
    best: dict = {}
    frequency = {ion: float(f"{probability.get_px(ion):.10g}") for ion in probability.species}
    for ion in sorted(probability.species, key=str):  # ties: first in name order wins
        if ion.symbol not in best or frequency[ion] > frequency[best[ion.symbol]]:
            best[ion.symbol] = ion
    return best


def decorate(prototype: Prototype, mapping: Mapping[str, str], *, rescale: bool = True):
    """Put new elements on a prototype's sites and rescale the cell.

    Parameters
    ----------
    prototype : Prototype
        The prototype.
    mapping : dict of str to str
        Prototype element → new element, for every element of the prototype.
    rescale : bool
        Rescale the volume from the prototype's by reference lattice scaling
        with atomic radii (pymatgen's ``RLSVolumePredictor``):
        V = V_proto · (Σ r_new n^⅓ / Σ r_proto n^⅓)³.  The identity mapping is
        never rescaled (the example's volume is measured).

    Returns
    -------
    pymatgen.core.Structure
        The decorated conventional cell.

    Raises
    ------
    ValueError
        If the mapping misses a prototype element, names an unknown element,
        or an element has no tabulated atomic radius (e.g. Cm).
    """
    from pymatgen.analysis.structure_prediction.volume_predictor import RLSVolumePredictor

    elements = prototype.elements
    if set(mapping) != set(elements):
        raise ValueError(
            f"mapping must give a new element for each of {elements}, got keys {sorted(mapping)}"
        )
    for element in mapping.values():
        _z(element)
    structure = prototype.structure.copy()
    structure.replace_species(dict(mapping))
    if rescale and any(k != v for k, v in mapping.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predictor = RLSVolumePredictor(check_isostructural=False, radii_type="atomic")
            try:
                volume = predictor.predict(structure, prototype.structure)
            except (ValueError, TypeError) as error:
                raise ValueError(
                    f"cannot predict the volume of {structure.formula}: {error}") from None
        structure.scale_lattice(volume)
    return structure


@functools.lru_cache(maxsize=None)
def _radius(symbol: str) -> float:
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core import Element

    if symbol in CovalentRadius.radius:
        return float(CovalentRadius.radius[symbol])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metallic = Element(symbol).metallic_radius
    if metallic is None:
        raise ValueError(f"no covalent or metallic radius for element {symbol!r}")
    return float(metallic)


def plausibility(structure, *, reference=None, min_distance_ratio: float = _MIN_DISTANCE_RATIO,
                 volume_per_atom: tuple[float, float] = _VOLUME_PER_ATOM) -> Plausibility:
    """Check a cell for too-short distances and unphysical volume.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        An ordered cell.
    reference : pymatgen.core.Structure, optional
        The prototype's example; when given, the covalent packing fraction
        must stay within a factor 2 of the reference's (so molecular
        prototypes keep their open packing and dense ones stay dense).
    min_distance_ratio : float
        Smallest allowed interatomic distance / (r_cov,i + r_cov,j)
        (covalent radii of Cordero et al. 2008; metallic radius beyond Cm).
    volume_per_atom : (float, float)
        Allowed range of volume per atom [Å³].

    Returns
    -------
    Plausibility
        ``ok`` and the numbers behind it.
    """
    symbols = [site.specie.symbol for site in structure]
    radii = np.array([_radius(s) for s in symbols])
    # Long enough to reach every atom's nearest neighbour in any sane cell.
    cutoff = max(2.0 * radii.max(), 1.5 * (structure.volume / len(structure)) ** (1 / 3)) + 1.0
    centers, neighbors, _, distances = structure.get_neighbor_list(r=cutoff)
    ratios = distances / (radii[centers] + radii[neighbors])
    ratio = float(np.min(ratios)) if len(ratios) else np.inf
    per_atom = structure.volume / len(structure)
    packing = float(np.sum(4.0 / 3.0 * np.pi * radii**3) / structure.volume)
    reason = ""
    if ratio < min_distance_ratio:
        reason = f"interatomic distance {ratio:.2f} × covalent sum < {min_distance_ratio}"
    elif not volume_per_atom[0] <= per_atom <= volume_per_atom[1]:
        reason = f"volume {per_atom:.1f} Å³/atom outside {volume_per_atom}"
    elif reference is not None:
        ref_radii = np.array([_radius(site.specie.symbol) for site in reference])
        ref_packing = float(np.sum(4.0 / 3.0 * np.pi * ref_radii**3) / reference.volume)
        if not ref_packing / _PACKING_FACTOR <= packing <= ref_packing * _PACKING_FACTOR:
            reason = f"packing fraction {packing:.2f} vs prototype {ref_packing:.2f}"
    return Plausibility(not reason, ratio, per_atom, packing, reason)


def deduplicate(structures: Sequence) -> list[int]:
    """Indices of the structures to keep: the first of each group of duplicates.

    Two structures are duplicates when they have the same reduced composition
    and pymatgen's ``StructureMatcher`` (default tolerances) fits them.

    Parameters
    ----------
    structures : sequence of pymatgen.core.Structure

    Returns
    -------
    list of int
        Sorted indices of the kept structures.
    """
    from pymatgen.core.structure_matcher import StructureMatcher

    groups: dict[str, list[int]] = {}
    for index, structure in enumerate(structures):
        groups.setdefault(structure.composition.reduced_formula, []).append(index)
    matcher = StructureMatcher()
    keep = []
    for members in groups.values():
        kept_here: list[int] = []
        for index in members:
            if not any(matcher.fit(structures[k], structures[index]) for k in kept_here):
                kept_here.append(index)
        keep.extend(kept_here)
    return sorted(keep)


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #
def sample_systems(pool_sizes: Mapping[str, int], weights: Mapping[str, float], n_systems: int,
                   *, required: Sequence[str] = (), seed: int = 0) -> dict[str, list[int]]:
    """Draw systems so that prototypes appear in proportion to their weights.

    Each required prototype first gets its candidate 0; the rest are drawn
    without replacement, a candidate of prototype p having probability
    ∝ ``weights[p] / pool_sizes[p]``, so the expected count per prototype is
    proportional to its weight until its candidates run out.

    Parameters
    ----------
    pool_sizes : dict of str to int
        Candidates available per prototype.
    weights : dict of str to float
        Positive weight of every prototype with candidates.
    n_systems : int
        Systems to draw.
    required : sequence of str
        Prototypes that must contribute at least one system.
    seed : int
        Seed of the draw.

    Returns
    -------
    dict of str to list of int
        Chosen candidate indices per prototype (sorted), only non-empty ones.

    Raises
    ------
    ValueError
        If ``n_systems`` < 1, the pool holds fewer candidates than asked for,
        more prototypes are required than systems, or a weight is not positive.
    """
    if not isinstance(n_systems, (int, np.integer)) or n_systems < 1:
        raise ValueError(f"n_systems must be a positive integer, got {n_systems!r}")
    keys = sorted(k for k, n in pool_sizes.items() if n > 0)
    total = sum(pool_sizes[k] for k in keys)
    if total < n_systems:
        raise ValueError(
            f"cannot select {n_systems} systems from {total} plausible candidates: raise "
            "n_prototypes or candidates_per_prototype, or lower the substitution threshold"
        )
    missing = [k for k in required if k not in keys]
    if missing:
        raise ValueError(f"required prototypes have no plausible candidates: {missing}")
    if len(required) > n_systems:
        raise ValueError(
            f"{len(required)} prototypes are required but only {n_systems} systems asked for")
    bad = [k for k in keys if not (weights.get(k, 0.0) > 0.0 and math.isfinite(weights[k]))]
    if bad:
        raise ValueError(f"weights must be positive and finite for every prototype; bad: {bad}")
    chosen = {k: [0] for k in required}
    flat = [(k, i) for k in keys for i in range(pool_sizes[k]) if not (k in chosen and i == 0)]
    p = np.array([weights[k] / pool_sizes[k] for k, _ in flat])
    rng = np.random.default_rng([int(seed), 0x5A3])
    picks = rng.choice(len(flat), size=n_systems - len(chosen), replace=False, p=p / p.sum())
    for pick in picks:
        key, index = flat[int(pick)]
        chosen.setdefault(key, []).append(index)
    return {k: sorted(v) for k, v in sorted(chosen.items())}


# --------------------------------------------------------------------------- #
# Selection
# --------------------------------------------------------------------------- #
def select_materials(settings, *, seed: int | None = None,
                     include_named: bool = True) -> MaterialsTable:
    """Select the crystal systems of the library from pymatgen's prototypes.

    Parameters
    ----------
    settings : fcunet_lib.config.MaterialsSettings
        ``n_systems`` (sampled systems), ``n_prototypes``,
        ``candidates_per_prototype`` (decorations tried per prototype, the
        prototype's own compound included), ``substitution_threshold``,
        ``max_sites`` [atoms].
    seed : int, optional
        Seed of every random choice (default ``settings.seed``).  Same seed,
        same table.
    include_named : bool
        Append the named materials (Si, Ge, h-BN, Si₀.₈₂Ge₀.₁₈) with
        ``source="named"``; they are not counted in ``n_systems``.

    Returns
    -------
    MaterialsTable
        ``n_systems`` rows with ``source="aflow-substitution"`` (plus the
        named ones); ``metadata["prototypes"]`` holds every prototype's
        weight and counts (decorations, tried, accepted).

    Raises
    ------
    ValueError
        If a setting is out of range or too few plausible candidates exist.

    Notes
    -----
    Cost (substitution enumeration dominates, ≈ 0.3 s per prototype at
    threshold 1e-3, ≈ 4 s at 1e-4): measured ≈ 10–15 s at ``smoke`` and
    ≈ 45–60 s at ``default`` on a shared 2-core machine; ``paper`` is
    estimated at ≈ 30–40 min.
    """
    _check_settings(settings)
    seed = settings.seed if seed is None else int(seed)
    prototypes = choose_prototypes(settings.n_prototypes, max_sites=settings.max_sites, seed=seed)
    pools, stats = _candidate_pools(prototypes, settings, seed)
    fig6 = _with_candidate_z(fig6_status(), settings.substitution_threshold)
    required = [s["key"] for s in fig6.values() if s["present"] and s["key"] in pools]
    chosen = sample_systems({k: len(v) for k, v in pools.items()},
                            {k: stats[k]["weight"] for k in pools}, settings.n_systems,
                            required=required, seed=seed)
    order = [p.key for p in prototypes if p.key in chosen]
    records = _unique_ids([
        material_record(None, structure, source="aflow-substitution", prototype=proto.key,
                        spacegroup=proto.spacegroup, probability=dec.probability,
                        decoration=dec.mapping)
        for key in order for proto, dec, structure in (pools[key][i] for i in chosen[key])
    ])
    if include_named:
        records += named_materials(seed=seed)
    metadata = {"source_note": DATA_NOTE, "settings": dataclasses.asdict(settings), "seed": seed,
                "algorithm": _ALGORITHM_VERSION, "prototypes": stats, "fig6_prototypes": fig6,
                "weight": "estimated plausible decorations: n_decorations × accepted / tried"}
    return MaterialsTable(tuple(records), metadata)


def _candidate_pools(prototypes, settings, seed: int) -> tuple[dict[str, list], dict[str, dict]]:
    """Plausible, de-duplicated candidates per prototype, and each prototype's counts and weight."""
    from fcunet_lib.progress import progress

    candidates, stats = [], {}
    for prototype in progress(prototypes, desc="decorating prototypes", unit="prototype"):
        tried, n_decorations = _tried_decorations(prototype, settings, seed)
        plausible = [(prototype, d, s) for d, s in _plausible_structures(prototype, tried)]
        candidates += plausible
        stats[prototype.key] = {"aflow": prototype.aflow, "formula": prototype.formula,
                                "n_decorations": n_decorations, "tried": len(tried),
                                "plausible": len(plausible)}
    pools: dict[str, list] = {}
    for index in deduplicate([c[2] for c in candidates]):
        pools.setdefault(candidates[index][0].key, []).append(candidates[index])
    for key, entry in stats.items():
        entry["accepted"] = len(pools.get(key, []))
        entry["weight"] = entry["n_decorations"] * entry["accepted"] / entry["tried"]
    return pools, stats


def _with_candidate_z(status: dict, threshold: float) -> dict:
    """Add, per present Fig. 6 prototype, Z per site role over all its plausible decorations."""
    out = {}
    for name, info in status.items():
        info = dict(info)
        if info["present"]:
            prototype = get_prototype(info["key"])
            every = decorations(prototype, threshold=threshold)
            passed = [d for d, _ in _plausible_structures(prototype, every)]
            info["candidate_z"] = {role: [_z(d.mapping[role]) for d in passed]
                                   for role in prototype.elements}
            info["n_candidates"] = len(passed)
        out[name] = info
    return out


def _plausible_structures(prototype: Prototype, tried: list[Decoration]):
    """Decorate, rescale and screen; yields (decoration, structure) that pass."""
    for decoration in tried:
        try:
            structure = decorate(prototype, decoration.mapping)
        except ValueError:  # no atomic radius for the volume predictor: counted as implausible
            continue
        if plausibility(structure, reference=prototype.structure).ok:
            yield decoration, structure


def _check_settings(settings) -> None:
    names = ("n_systems", "n_prototypes", "candidates_per_prototype", "max_sites")
    for name in names:
        value = getattr(settings, name, None)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"MaterialsSettings.{name} must be a positive integer, got {value!r}")
    threshold = getattr(settings, "substitution_threshold", None)
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise ValueError(
            f"MaterialsSettings.substitution_threshold must be in (0, 1), got {threshold!r}")


def _tried_decorations(prototype: Prototype, settings, seed: int) -> tuple[list[Decoration], int]:
    """The identity plus a seeded uniform draw of the other decorations."""
    every = decorations(prototype, threshold=settings.substitution_threshold)
    others = every[1:]
    k = min(settings.candidates_per_prototype - 1, len(others))
    rng = np.random.default_rng([int(seed), zlib.crc32(prototype.key.encode())])
    picks = sorted(rng.choice(len(others), size=k, replace=False)) if k > 0 else []
    return [every[0], *(others[int(i)] for i in picks)], len(every)


def _unique_ids(records: list[Material]) -> list[Material]:
    seen: dict[str, int] = {}
    out = []
    for record in records:
        count = seen.get(record.id, 0) + 1
        seen[record.id] = count
        out.append(record if count == 1 else dataclasses.replace(record, id=f"{record.id}-{count}"))
    return out


def material_record(material_id: str | None, structure, *, source: str, prototype: str,
                    spacegroup: int | None = None, probability: float = 1.0,
                    decoration: Mapping[str, str] | None = None,
                    formula: str | None = None) -> Material:
    """Build a table record from a structure, reading the lattice columns off its cell.

    Parameters
    ----------
    material_id : str or None
        Identifier; None gives ``"<formula>.<prototype>"``.
    structure : pymatgen.core.Structure
    source : str
        One of :data:`SOURCES`.
    prototype : str
        Prototype key ``"<AFLOW label>.<formula>"``.
    spacegroup : int, optional
        Space-group number; computed with spglib (symprec 0.01 Å) when None.
    probability : float
        Substitution probability.
    decoration : dict of str to str, optional
        Prototype element → element placed there.
    formula : str, optional
        Overrides the formula read from the structure.

    Returns
    -------
    Material

    Raises
    ------
    ValueError
        If ``source`` is unknown or ``prototype`` is not a key.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: expected one of {SOURCES}")
    if "." not in prototype:
        raise ValueError(f"prototype must be a key '<AFLOW label>.<formula>', got {prototype!r}")
    label, proto_formula = prototype.rsplit(".", 1)
    if spacegroup is None:
        spacegroup = SpacegroupAnalyzer(structure, symprec=0.01).get_space_group_number()
    formula = formula or _formula(structure.composition)
    if decoration is None:
        decoration = {}
    lattice = structure.lattice
    return Material(
        id=material_id or f"{formula}.{prototype}",
        formula=formula, prototype=label, prototype_key=prototype, prototype_formula=proto_formula,
        spacegroup=int(spacegroup), a=float(lattice.a), b=float(lattice.b), c=float(lattice.c),
        alpha=float(lattice.alpha), beta=float(lattice.beta), gamma=float(lattice.gamma),
        n_sites=len(structure), source=source, probability=float(probability),
        decoration=dict(decoration), structure=structure,
    )


def _ordered_symbols(composition) -> list[str]:
    return [e.symbol for e in sorted(composition.elements, key=lambda e: (e.X, e.symbol))]


def _formula(composition) -> str:
    """Reduced formula, elements by electronegativity, no polyanion grouping."""
    reduced = composition.element_composition.reduced_composition
    parts = []
    for symbol in _ordered_symbols(reduced):
        amount = reduced[symbol]
        if abs(amount - 1) < 1e-8:
            text = ""
        else:
            text = f"{amount:.0f}" if float(amount).is_integer() else f"{amount:g}"
        parts.append(symbol + text)
    return "".join(parts)


def _z(symbol: str) -> int:
    from pymatgen.core import Element

    try:
        return Element(symbol).Z
    except (ValueError, KeyError):
        raise ValueError(
            f"unknown element {symbol!r}: expected a chemical symbol like 'Si'") from None


# --------------------------------------------------------------------------- #
# Saving and loading
# --------------------------------------------------------------------------- #
def save_materials(table: MaterialsTable, folder) -> Path:
    """Write a table to ``folder`` (created if needed), atomically per file.

    Parameters
    ----------
    table : MaterialsTable
    folder : str or pathlib.Path

    Returns
    -------
    pathlib.Path
        The folder.  ``materials.csv`` and ``structures.json`` are written to
        temporary files and renamed into place, then ``manifest.json`` (with
        their SHA-256) the same way, so an interrupted write never leaves a
        folder that :func:`load_materials` accepts with mixed contents.
    """
    if len(table) == 0:
        raise ValueError("cannot save an empty materials table")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in table.rows():
        writer.writerow({**row, "decoration": json.dumps(row["decoration"], sort_keys=True)})
    structures = {m.id: m.structure.as_dict() for m in table}
    payload = {"materials.csv": buffer.getvalue().encode(),
               "structures.json": json.dumps(structures, sort_keys=True).encode()}
    (folder / "manifest.json").unlink(missing_ok=True)
    for name, data in payload.items():
        _atomic_write(folder / name, data)
    manifest = {"format": _FORMAT, "version": _FORMAT_VERSION, "n_materials": len(table),
                "columns": list(COLUMNS), "sha256": {n: _sha256(d) for n, d in payload.items()},
                "metadata": table.metadata}
    _atomic_write(folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    return folder


def load_materials(folder) -> MaterialsTable:
    """Read a table written by :func:`save_materials`, checking its checksums.

    Raises
    ------
    FileNotFoundError
        If the folder or its manifest is missing.
    ValueError
        If a file is corrupted, truncated or of another format.
    """
    from pymatgen.core import Structure

    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no materials table in {folder}: {manifest_path.name} is missing")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except json.JSONDecodeError as error:
        raise ValueError(f"{manifest_path} is corrupted: {error}") from None
    if manifest.get("format") != _FORMAT or manifest.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{manifest_path} is not a {_FORMAT} v{_FORMAT_VERSION} manifest")
    data = {}
    for name, digest in manifest["sha256"].items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        data[name] = path.read_bytes()
        if _sha256(data[name]) != digest:
            raise ValueError(
                f"{path} is corrupted or truncated (SHA-256 does not match the manifest)")
    structures = json.loads(data["structures.json"])
    records = []
    for row in csv.DictReader(io.StringIO(data["materials.csv"].decode())):
        records.append(Material(
            **{k: row[k] for k in ("id", "formula", "prototype", "prototype_key",
                                   "prototype_formula", "source")},
            spacegroup=int(row["spacegroup"]), n_sites=int(row["n_sites"]),
            **{k: float(row[k]) for k in ("a", "b", "c", "alpha", "beta", "gamma", "probability")},
            decoration=json.loads(row["decoration"]),
            structure=Structure.from_dict(structures[row["id"]]),
        ))
    if len(records) != manifest["n_materials"]:
        raise ValueError(f"{folder / 'materials.csv'} holds {len(records)} rows, manifest says "
                         f"{manifest['n_materials']}")
    return MaterialsTable(tuple(records), manifest["metadata"])


def ensure_materials(settings, folder, *, seed: int | None = None,
                     force: bool = False) -> MaterialsTable:
    """Load the table in ``folder`` if it matches, else select one and save it there.

    A saved table matches when it was made with the same settings, seed and
    selection algorithm.  This is how later stages get the materials: a rerun
    reuses the checksummed table instead of selecting again.

    Parameters
    ----------
    settings : fcunet_lib.config.MaterialsSettings
    folder : str or pathlib.Path
    seed : int, optional
        Default ``settings.seed``.
    force : bool
        Reselect even when a matching table exists.

    Returns
    -------
    MaterialsTable

    Warns
    -----
    UserWarning
        When a table in ``folder`` is corrupted and is replaced.
    """
    seed = settings.seed if seed is None else int(seed)
    wanted = {"settings": dataclasses.asdict(settings), "seed": seed,
              "algorithm": _ALGORITHM_VERSION}
    if not force:
        try:
            table = load_materials(folder)
        except FileNotFoundError:
            table = None
        except ValueError as error:
            warnings.warn(f"reselecting materials: {error}", stacklevel=2)
            table = None
        if table is not None and all(table.metadata.get(k) == v for k, v in wanted.items()):
            return table
    table = select_materials(settings, seed=seed)
    save_materials(table, folder)
    return table


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    atomic.write_bytes(path, data)


# --------------------------------------------------------------------------- #
# Fig. 6 numbers
# --------------------------------------------------------------------------- #
def prototype_summary(table: MaterialsTable) -> dict:
    """The numbers behind Fig. 6, as JSON-serialisable data.

    Parameters
    ----------
    table : MaterialsTable
        A selection (named materials are ignored).

    Returns
    -------
    dict
        ``source_note``; ``n_systems``; ``prototypes``: one entry per
        prototype with a weight or a selected system, sorted by decreasing
        weight share, each with ``key``, ``aflow``, ``formula``,
        ``weight_share`` and ``selected_share`` (fractions) and ``selected``
        (count); ``coverage``: cumulative weight share along that order;
        ``n_prototypes_95``: prototypes needed to cover 95 % of the weight;
        ``fig6``: for CaTiO3, FeB, Fe3C, Zn3P2 whether the prototype is
        present, its selected systems' formulas and the atomic numbers Z
        placed on each site role (prototype element) in them (``z``) and in
        all of the prototype's plausible candidates (``candidate_z``, when the
        selection recorded them), or a note saying why there are none.
    """
    systems = [m for m in table if m.source != "named"]
    if not systems:
        raise ValueError("the table holds no selected systems (only named materials)")
    stats = table.metadata.get("prototypes", {})
    selected: dict[str, int] = {}
    for m in systems:
        selected[m.prototype_key] = selected.get(m.prototype_key, 0) + 1
    weights = {k: float(v.get("weight", 0.0)) for k, v in stats.items()}
    for key in selected:
        weights.setdefault(key, float(selected[key]))
    total_weight = sum(weights.values()) or 1.0
    keys = sorted(weights, key=lambda k: (-weights[k], -selected.get(k, 0), k))
    rows, cumulative = [], 0.0
    coverage = []
    for key in keys:
        label, formula = key.rsplit(".", 1)
        share = weights[key] / total_weight
        cumulative += share
        coverage.append(min(cumulative, 1.0))
        rows.append({"key": key, "aflow": label, "formula": formula, "weight_share": share,
                     "selected": selected.get(key, 0),
                     "selected_share": selected.get(key, 0) / len(systems)})
    n95 = next((i + 1 for i, c in enumerate(coverage) if c >= 0.95 - 1e-12), len(coverage))
    return {
        "source_note": table.metadata.get("source_note", DATA_NOTE),
        "n_systems": len(systems),
        "n_prototypes": len(keys),
        "n_prototypes_selected": len(selected),
        "prototypes": rows,
        "coverage": coverage,
        "n_prototypes_95": n95,
        "fig6": _fig6_numbers(systems, table.metadata.get("fig6_prototypes") or fig6_status()),
    }


def _fig6_numbers(systems: list[Material], status: Mapping[str, dict]) -> dict:
    out = {}
    for name, (label, formula) in FIG6_PROTOTYPES.items():
        info = dict(status.get(name, {"aflow": label, "present": False}))
        key = info.get("key") or f"{label}.{formula}"
        members = [m for m in systems if m.prototype_key == key]
        roles = _ordered_symbols_of_formula(formula)
        z_by_role = {role: [_z(m.decoration[role]) for m in members if role in m.decoration]
                     for role in roles}
        info.update({"formulas": [m.formula for m in members], "n_systems": len(members),
                     "roles": roles, "z": z_by_role})
        if info.get("present") and not members:
            info["note"] = f"no system of the {name} prototype was selected"
        out[name] = info
    return out


def _ordered_symbols_of_formula(formula: str) -> list[str]:
    from pymatgen.core import Composition

    return _ordered_symbols(Composition(formula))
