"""The materials table: one record per crystal system, and the table holding them.

:class:`Material` is a row of ``materials.csv`` plus its cell;
:class:`MaterialsTable` is the ordered, id-unique collection that selection
(:mod:`fcunet_lib.materials`, :mod:`fcunet_lib.materials_online`) returns and
storage writes.  :func:`material_record` builds a record from a structure,
reading the lattice columns off its cell.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from fcunet_lib.chemistry import reduced_formula

__all__ = ["COLUMNS", "SOURCES", "Material", "MaterialsTable", "material_record"]

#: Columns of ``materials.csv``, in order.
COLUMNS: tuple[str, ...] = (
    "id", "formula", "prototype", "prototype_key", "prototype_formula", "spacegroup",
    "a", "b", "c", "alpha", "beta", "gamma", "n_sites", "source", "probability", "decoration",
)
#: Allowed values of the ``source`` column.
SOURCES: tuple[str, ...] = ("aflow-substitution", "named", "materials-project")


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
    formula = formula or reduced_formula(structure.composition)
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


