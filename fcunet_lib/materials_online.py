"""The paper's path: Materials Project structures matched to AFLOW prototypes.

With an ``MP_API_KEY`` (and the optional ``mp-api`` package), the selection of
:func:`fcunet_lib.materials.select_materials` can be redone on real data:

1. :func:`fetch_mp_summaries` — the only function that touches the network —
   downloads summary documents (id, formula, symmetry, structure);
2. :func:`parse_mp_summaries` turns a response (fresh or recorded) into
   :class:`MPEntry` records;
3. :func:`match_prototypes` assigns each structure the pymatgen AFLOW
   prototype it fits (anonymous ``StructureMatcher`` fits with tightening
   tolerances, i.e. pymatgen's ``PrototypeDatabaseMatcher``, of which
   ``AflowPrototypeMatcher`` is the deprecated alias);
4. :func:`table_from_mp` samples ``n_systems`` structures following the number
   of MP structures per prototype — the paper's distribution.

pymatgen's library holds 288 of the paper's ≈500 prototypes, so structures of
the other prototypes stay unmatched; their number is recorded in the table's
metadata rather than dropped silently.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from fcunet_lib.material_table import MaterialsTable, material_record
from fcunet_lib.materials import sample_systems
from fcunet_lib.named_materials import named_materials
from fcunet_lib.prototypes import fig6_status, get_prototype, prototype_library

__all__ = [
    "MP_FIELDS",
    "MP_NOTE",
    "MPEntry",
    "fetch_mp_summaries",
    "parse_mp_summaries",
    "match_prototypes",
    "table_from_mp",
    "select_materials_online",
]

#: Fields requested from the summary endpoint.
MP_FIELDS: tuple[str, ...] = ("material_id", "formula_pretty", "nsites", "symmetry", "structure")
#: Data statement of tables built here (figure titles, JSON).
MP_NOTE = ("Materials Project structures matched to pymatgen's AFLOW prototype library "
           "(288 prototypes)")


@dataclass(frozen=True)
class MPEntry:
    """One Materials Project structure.

    Attributes
    ----------
    material_id : str
        MP identifier, e.g. ``"mp-149"``.
    formula : str
        Reduced formula as MP writes it.
    spacegroup : int or None
        Space-group number reported by MP (None when absent).
    structure : pymatgen.core.Structure
        The structure as downloaded.
    """

    material_id: str
    formula: str
    spacegroup: int | None
    structure: object = field(repr=False)


def fetch_mp_summaries(*, api_key: str | None = None, max_sites: int = 40,
                       limit: int | None = None) -> list[dict]:
    """Download summary documents from the Materials Project (network).

    Parameters
    ----------
    api_key : str, optional
        MP API key; default the ``MP_API_KEY`` environment variable.
    max_sites : int
        Largest structure requested [atoms].
    limit : int, optional
        Most documents requested (default: all, ≈ 150k at 40 sites; slow).

    Returns
    -------
    list of dict
        Plain JSON-serialisable documents with the fields :data:`MP_FIELDS`
        (structures as ``Structure.as_dict()``), ready for
        :func:`parse_mp_summaries` or for recording with ``json.dump``.

    Raises
    ------
    ValueError
        If no API key is given or set, or ``max_sites``/``limit`` < 1.
    ImportError
        If the optional ``mp-api`` package is not installed.
    """
    key = api_key or os.environ.get("MP_API_KEY")
    if not key:
        raise ValueError("no Materials Project API key: pass api_key= or set MP_API_KEY")
    if max_sites < 1 or (limit is not None and limit < 1):
        raise ValueError(f"max_sites and limit must be positive, got {max_sites!r}, {limit!r}")
    rester = _mprester_class()
    options = {"num_sites": (1, int(max_sites)), "fields": list(MP_FIELDS)}
    if limit is not None:
        chunk = min(int(limit), 1000)
        options.update(chunk_size=chunk, num_chunks=math.ceil(int(limit) / chunk))
    with rester(key, use_document_model=False, mute_progress_bars=True) as client:
        documents = client.materials.summary.search(**options)
    return [_plain_document(document) for document in documents][: limit or None]


def _mprester_class():
    try:
        from mp_api.client import MPRester
    except ImportError as error:
        raise ImportError(
            "the online materials path needs the optional 'mp-api' package: "
            "pip install 'fcunet-companion[online]' (or pip install mp-api)"
        ) from error
    return MPRester


def _plain_document(document) -> dict:
    plain = dict(document)
    structure = plain.get("structure")
    if hasattr(structure, "as_dict"):
        plain["structure"] = structure.as_dict()
    symmetry = plain.get("symmetry")
    if symmetry is not None and not isinstance(symmetry, dict):
        plain["symmetry"] = {"number": getattr(symmetry, "number", None)}
    plain["material_id"] = str(plain.get("material_id"))
    return plain


def parse_mp_summaries(response) -> list[MPEntry]:
    """Turn a summary response into :class:`MPEntry` records.

    Parameters
    ----------
    response : list of dict, dict with a ``"data"`` list, or path
        Documents from :func:`fetch_mp_summaries`, a raw REST response
        (``{"data": [...], "meta": {...}}``) or a JSON file holding either.

    Returns
    -------
    list of MPEntry
        In the response's order.

    Raises
    ------
    ValueError
        If the response is not a list of documents, or a document lacks a
        ``material_id`` or a readable ``structure``.
    """
    from pymatgen.core import Structure

    if isinstance(response, (str, Path)):
        response = json.loads(Path(response).read_text())
    documents = response.get("data") if isinstance(response, dict) else response
    if not isinstance(documents, list):
        raise ValueError("expected a list of summary documents or a dict with a 'data' list")
    entries = []
    for index, document in enumerate(documents):
        if not isinstance(document, dict) or not document.get("material_id"):
            raise ValueError(f"document {index} has no 'material_id'")
        raw = document.get("structure")
        try:
            structure = raw if isinstance(raw, Structure) else Structure.from_dict(raw)
        except Exception as error:  # pymatgen raises several types on malformed dicts
            raise ValueError(f"document {index} ({document['material_id']}) has no readable "
                             f"'structure': {error!r}") from None
        number = (document.get("symmetry") or {}).get("number")
        entries.append(MPEntry(
            material_id=str(document["material_id"]),
            formula=str(document.get("formula_pretty") or structure.composition.reduced_formula),
            spacegroup=int(number) if number is not None else None,
            structure=structure,
        ))
    return entries


@functools.lru_cache(maxsize=1)
def _matcher():
    import pandas as pd
    from pymatgen.analysis.prototypes import AFLOW_PROTOTYPE_LIBRARY, PrototypeDatabaseMatcher

    keys = [p.key for p in prototype_library()]
    frame = pd.DataFrame(AFLOW_PROTOTYPE_LIBRARY)
    frame["key"] = keys  # prototype_library keeps the library's order
    return PrototypeDatabaseMatcher(frame)


def match_prototypes(entries) -> list[str | None]:
    """The prototype key of each structure, or None when none fits.

    Parameters
    ----------
    entries : sequence of MPEntry or pymatgen.core.Structure

    Returns
    -------
    list of str or None
        Keys of :func:`fcunet_lib.prototypes.prototype_library`; where several
        prototypes still fit at the tightest tolerance, the first in library
        order.  Costs ≈ 0.1–0.4 s per structure.
    """
    matcher = _matcher()
    keys = []
    for entry in entries:
        structure = getattr(entry, "structure", entry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = matcher.get_prototypes(structure)
        keys.append(found[0]["key"] if found else None)
    return keys


def table_from_mp(entries, keys, settings, *, seed: int | None = None,
                  include_named: bool = True) -> MaterialsTable:
    """Sample systems from matched MP structures following their distribution.

    Parameters
    ----------
    entries : sequence of MPEntry
    keys : sequence of str or None
        Prototype key of each entry (:func:`match_prototypes`).
    settings : fcunet_lib.config.MaterialsSettings
        ``n_systems`` and ``max_sites`` are used.
    seed : int, optional
        Default ``settings.seed``.
    include_named : bool
        Append the named materials (Si, Ge, h-BN, Si₀.₈₂Ge₀.₁₈).

    Returns
    -------
    MaterialsTable
        Rows with ``source="materials-project"`` in their conventional
        standard cells; a prototype's weight is its number of matched MP
        structures.  For the Fig. 6 prototypes the site-role elements of every
        matched structure are recorded (one anonymous fit each, ≈ 0.1 s).

    Raises
    ------
    ValueError
        If ``entries`` and ``keys`` differ in length or too few structures match.
    """
    from pymatgen.core.structure_matcher import StructureMatcher
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    entries, keys = list(entries), list(keys)
    if len(entries) != len(keys):
        raise ValueError(f"got {len(entries)} entries but {len(keys)} prototype keys")
    seed = settings.seed if seed is None else int(seed)
    pools: dict[str, list] = {}
    too_big = 0
    for entry, key in sorted(zip(entries, keys), key=lambda pair: _id_order(pair[0].material_id)):
        if key is None:
            continue
        if len(entry.structure) > settings.max_sites:
            too_big += 1
            continue
        pools.setdefault(key, []).append(entry)
    matcher = StructureMatcher()
    status = _with_candidate_z(fig6_status(), pools, matcher)
    required = [s["key"] for s in status.values() if s["present"] and s["key"] in pools]
    chosen = sample_systems({k: len(v) for k, v in pools.items()},
                            {k: float(len(v)) for k, v in pools.items()},
                            settings.n_systems, required=required, seed=seed)
    records = []
    for key in sorted(chosen):
        prototype = get_prototype(key)
        for index in chosen[key]:
            entry = pools[key][index]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                analyzer = SpacegroupAnalyzer(entry.structure, symprec=0.01)
                cell = analyzer.get_conventional_standard_structure()
            decoration = _decoration(prototype, cell, matcher)
            records.append(material_record(
                entry.material_id, cell, source="materials-project", prototype=key,
                spacegroup=entry.spacegroup, decoration=decoration))
    if include_named:
        records += named_materials(seed=seed)
    stats = {k: {"aflow": k.rsplit(".", 1)[0], "formula": k.rsplit(".", 1)[1],
                 "n_structures": len(v), "weight": float(len(v))} for k, v in pools.items()}
    metadata = {
        "source_note": MP_NOTE,
        "settings": dataclasses.asdict(settings),
        "seed": seed,
        "prototypes": stats,
        "fig6_prototypes": status,
        "weight": "number of matched Materials Project structures",
        "n_structures": len(entries),
        "n_unmatched": sum(k is None for k in keys),
        "n_above_max_sites": too_big,
    }
    return MaterialsTable(tuple(records), metadata)


def _decoration(prototype, structure, matcher) -> dict[str, str]:
    """Prototype element → element of ``structure`` on the same sites."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapping = matcher.get_best_electronegativity_anonymous_mapping(prototype.structure,
                                                                        structure)
    return {str(a.symbol): str(b.symbol) for a, b in (mapping or {}).items()}


def _with_candidate_z(status: dict, pools: dict, matcher) -> dict:
    """Add, per Fig. 6 prototype with matches, Z per site role over all its MP structures."""
    from pymatgen.core import Element

    out = {}
    for name, info in status.items():
        info = dict(info)
        if info["present"] and info["key"] in pools:
            prototype = get_prototype(info["key"])
            mappings = [_decoration(prototype, e.structure, matcher) for e in pools[info["key"]]]
            info["candidate_z"] = {role: [Element(m[role]).Z for m in mappings if role in m]
                                   for role in prototype.elements}
            info["n_candidates"] = len(mappings)
        out[name] = info
    return out


def select_materials_online(settings, *, seed: int | None = None, api_key: str | None = None,
                            response=None, include_named: bool = True) -> MaterialsTable:
    """Fetch (or read), match and sample Materials Project structures.

    Parameters
    ----------
    settings : fcunet_lib.config.MaterialsSettings
    seed : int, optional
        Default ``settings.seed``.
    api_key : str, optional
        Default the ``MP_API_KEY`` environment variable.
    response : optional
        A recorded response (see :func:`parse_mp_summaries`); when given,
        nothing is downloaded.
    include_named : bool
        Append the named materials.

    Returns
    -------
    MaterialsTable
    """
    if response is None:
        response = fetch_mp_summaries(api_key=api_key, max_sites=settings.max_sites)
    entries = parse_mp_summaries(response)
    return table_from_mp(entries, match_prototypes(entries), settings, seed=seed,
                         include_named=include_named)


def _id_order(material_id: str):
    match = re.fullmatch(r"([a-z]+)-(\d+)", material_id)
    return (match.group(1), int(match.group(2)), "") if match else ("~", 0, material_id)
