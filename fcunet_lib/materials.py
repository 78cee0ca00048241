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

This module runs the selection (:func:`select_materials`, step 5 in
:func:`sample_systems`), stores tables (:func:`save_materials`,
:func:`load_materials`, :func:`ensure_materials`) and condenses them into the
numbers of Fig. 6 (:func:`prototype_summary`).  The other steps have their own
modules, whose public names are re-exported here (``fcunet_lib.materials.X``
keeps working for every name in ``__all__``):

:mod:`fcunet_lib.prototypes`
    Step 1: the prototype library, look-up, Fig. 6 status, prototype choice.
:mod:`fcunet_lib.decoration`
    Steps 2–4: decoration, rescaling, plausibility checks, de-duplication.
:mod:`fcunet_lib.named_materials`
    Si, Ge, Si₁₋ₓGeₓ (Vegard's law) and h-BN.
:mod:`fcunet_lib.material_table`
    The records: :class:`Material`, :class:`MaterialsTable`,
    :func:`material_record`.
:mod:`fcunet_lib.chemistry`
    Element order, reduced formulas and atomic numbers.

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
import hashlib
import io
import json
import math
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from . import atomic
from .chemistry import atomic_number, ordered_symbols
from .decoration import (
    Decoration,
    Plausibility,
    decorate,
    decorations,
    deduplicate,
    plausibility,
)
from .material_table import COLUMNS, SOURCES, Material, MaterialsTable, material_record
from .named_materials import (
    LATTICE_CONSTANTS,
    NAMED_MATERIALS,
    named_materials,
    named_structure,
    sige_alloy,
    vegard_lattice_constant,
)
from .prototypes import (
    FIG6_PROTOTYPES,
    Prototype,
    choose_prototypes,
    fig6_status,
    get_prototype,
    prototype_library,
)

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

#: One-line statement of where the default data come from (figure titles, JSON).
DATA_NOTE = (
    "pymatgen's AFLOW prototype library (288 prototypes) decorated by data-mined ionic "
    "substitution; a stand-in for the paper's Materials Project distribution"
)

_FORMAT = "fcunet-materials"
_FORMAT_VERSION = 1
#: Version of the selection algorithm: a saved table made by another one is reselected.
_ALGORITHM_VERSION = 2


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
            info["candidate_z"] = {role: [atomic_number(d.mapping[role]) for d in passed]
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
        z_by_role = {role: [atomic_number(m.decoration[role]) for m in members if role in m.decoration]
                     for role in roles}
        info.update({"formulas": [m.formula for m in members], "n_systems": len(members),
                     "roles": roles, "z": z_by_role})
        if info.get("present") and not members:
            info["note"] = f"no system of the {name} prototype was selected"
        out[name] = info
    return out


def _ordered_symbols_of_formula(formula: str) -> list[str]:
    from pymatgen.core import Composition

    return ordered_symbols(Composition(formula))
