"""Candidate structures from a prototype: decorate, rescale, screen, de-duplicate.

Steps 2–4 of the stand-in selection (see :mod:`fcunet_lib.materials`):

* :func:`decorations` — chemically plausible substitutions of a prototype's
  elements, from the data-mined ionic substitution probabilities of Hautier
  et al. (pymatgen's ``SubstitutionPredictor``);
* :func:`decorate` — put the new elements on the sites and rescale the cell
  by reference lattice scaling with atomic radii;
* :func:`plausibility` — reject too-short distances and unphysical volumes;
* :func:`deduplicate` — keep one of each group of matching structures.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fcunet_lib.chemistry import atomic_number
from fcunet_lib.prototypes import Prototype, get_prototype

__all__ = ["Decoration", "Plausibility", "decorate", "decorations", "deduplicate", "plausibility"]

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
        if len(set(new)) != len(new) or any(atomic_number(e) > _MAX_Z or e in _NOBLE_GASES for e in new):
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
        atomic_number(element)
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
