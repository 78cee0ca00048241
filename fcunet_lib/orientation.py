"""Orient crystals for CBED simulation: zone axes, random orientations, mistilt.

Three ways a crystal meets the beam in the library (paper, Methods: five
low-index zone axes and five random orientations per crystal system, and
off-zone mistilts for evaluation):

* **Zone axis** – :func:`zone_axis_crystal`. The beam runs along a lattice
  direction [uvw]. The crystal is rotated explicitly (x along the shortest
  lattice vector normal to [uvw], z along [uvw]) and ``abtem.orthogonalize_cell``
  then finds the orthogonal periodic supercell; the affine transform it needs
  is returned and bounded (``max_strain``, 1 % by default), so a lattice with
  no orthogonal cell close to the rotated one is refused, never silently
  strained. The explicit rotation is used instead of ``ase.build.surface``
  because it leaves the crystal-to-lab rotation known exactly (needed for the
  metadata and for tilted targets) and because ``surface(periodic=True)``
  stacks the planes wrongly unless ``layers`` equals ``h·u + k·v + l·w``.
  The plane normal to [uvw] is still reported, from the metric tensor
  (:func:`plane_indices`).

  *Pixel size.* The reciprocal pixel of a periodic simulation is ``1/L`` for a
  cell of width ``L``, and a zone-axis crystal only tiles to widths that are
  multiples of its period (Si[110]: 12 × 3.840 Å = 46.08 Å but 9 × 5.431 Å =
  48.88 Å). The cell is therefore tiled to the smallest width ``L ≥ 46.08 Å``,
  simulated periodically, and the diffraction pattern resampled to exactly
  ``1/46.08 Å⁻¹`` (see :mod:`fcunet_lib.simulate`). This is preferred to
  cutting a non-periodic 46.08 Å block because a periodic simulation of a
  crystal of period ``L`` gives, by Poisson summation, *exact* samples at
  ``k = n/L`` of the pattern of one probe in an infinite crystal, whatever the
  probe size; a cut block has seams at its edges that a 1 mrad probe (Airy
  radius ≈ 12 Å at 300 kV) reaches, and that a mistilted probe walks into
  (4° over 50 nm is 35 Å). It also keeps abTEM's ``CrystalPotential`` fast
  path: the unit potential is built once and tiled.

* **Random orientation** – :func:`random_orientation_crystal`. The atoms are
  rotated by a uniformly random rotation and ``abtem.atoms.cut_cell`` cuts a
  non-periodic 46.08 × 46.08 Å × thickness block (exact pixel, no resampling;
  there is no short period to exploit).

* **Mistilt** – :func:`mistilt_mrad`, :func:`random_mistilt_mrad`. A small
  off-zone tilt is applied as a beam tilt, ``abtem.Probe(tilt=...)``: the tilt
  enters abTEM's Fresnel propagator (Kirkland eq. 6.99), which for small
  angles is equivalent to tilting the specimen, costs nothing, and keeps the
  exact periodic zone-axis cell (rotating the atoms would need a cut block and
  its seams). It is valid to a few degrees; :data:`MAX_TILT_MRAD` bounds it.
  :func:`beam_direction` gives the beam's unit vector in the lab frame for a
  tilt, with the sign checked against abTEM (a tilt ``(+t, 0)`` moves the probe
  towards +x with depth; ``tests/test_simulate.py`` keeps that true).

Frames: the *crystal frame* is the Cartesian frame of the cell given by the
caller; the *lab frame* has the beam along +z and the pattern axes
``[qx, qy]`` along x and y. ``rotation`` maps crystal to lab:
``r_lab = rotation @ r_crystal`` (column vectors).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from ase import Atoms

from fcunet_lib.config import SIMULATION_CELL

__all__ = [
    "MAX_TILT_MRAD",
    "OrientedCrystal",
    "as_atoms",
    "plane_indices",
    "zone_axis_crystal",
    "random_orientation_crystal",
    "periodic_crystal",
    "low_index_zone_axes",
    "mistilt_mrad",
    "random_mistilt_mrad",
    "beam_direction",
]

#: Largest beam tilt accepted [mrad] (≈ 6°): beyond it the tilted-propagator
#: approximation of a specimen tilt is no longer good.
MAX_TILT_MRAD = 105.0

_ORTHOGONAL_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class OrientedCrystal:
    """A crystal placed in the lab frame, ready to simulate.

    Attributes
    ----------
    atoms : ase.Atoms
        What is simulated, in the lab frame, orthogonal cell [Å]. For a zone
        axis (``z_periodic``): one periodic orthogonal unit, tiled by
        ``repetitions`` laterally and repeated along z to the thickness. For a
        random orientation: the whole non-periodic block.
    repetitions : tuple of int
        Lateral tiling ``(nx, ny)`` of ``atoms`` in the simulation.
    z_periodic : bool
        True if ``atoms`` repeats along z with period ``atoms.cell[2, 2]``.
    lattice : ase.Atoms
        A periodic cell of the crystal in the lab frame [Å], used for the
        structure factors of the targets (the strained orthogonal unit for a
        zone axis, the rotated primitive cell for a random orientation).
    rotation : ndarray of shape (3, 3)
        Crystal-to-lab rotation, ``r_lab = rotation @ r_crystal``.
    kind : str
        ``"zone_axis"``, ``"random"`` or ``"periodic"`` (a cell given as is).
    zone_axis : tuple of int or None
        [uvw] in the caller's cell (zone axes only).
    plane_indices : tuple of int or None
        (hkl) of the lattice planes normal to the beam, or None if irrational.
    transform_strain : float
        Spectral norm of ``A - I`` for the affine transform ``A`` that
        ``orthogonalize_cell`` applied (0 when none): bounds strain and rotation.
    formula : str
        Chemical formula of the crystal.
    """

    atoms: Atoms
    repetitions: tuple[int, int]
    z_periodic: bool
    lattice: Atoms
    rotation: np.ndarray
    kind: str
    zone_axis: tuple[int, int, int] | None = None
    plane_indices: tuple[int, int, int] | None = None
    transform_strain: float = 0.0
    formula: str = ""

    @property
    def extent_A(self) -> tuple[float, float]:
        """Lateral width of the simulated cell ``(Lx, Ly)`` [Å]."""
        cell = np.diag(self.atoms.cell.array)
        return (float(cell[0] * self.repetitions[0]), float(cell[1] * self.repetitions[1]))

    @property
    def depth_A(self) -> float:
        """z period of the unit (``z_periodic``) or thickness of the block [Å]."""
        return float(self.atoms.cell[2, 2])

    def metadata(self) -> dict[str, Any]:
        """Return plain JSON-serialisable data describing the orientation."""
        return {
            "kind": self.kind,
            "formula": self.formula,
            "zone_axis_uvw": None if self.zone_axis is None else list(self.zone_axis),
            "plane_indices_hkl": None if self.plane_indices is None else list(self.plane_indices),
            "rotation_crystal_to_lab": np.round(self.rotation, 12).tolist(),
            "transform_strain": float(self.transform_strain),
            "unit_cell_A": np.diag(self.atoms.cell.array).round(6).tolist(),
            "unit_atoms": len(self.atoms),
            "repetitions": list(self.repetitions),
            "z_periodic": bool(self.z_periodic),
            "extent_A": [round(v, 6) for v in self.extent_A],
        }


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def as_atoms(structure) -> Atoms:
    """Return a copy of ``structure`` as periodic, ordered ``ase.Atoms``.

    Parameters
    ----------
    structure : pymatgen.core.Structure or ase.Atoms
        The crystal; positions and cell in Å.

    Raises
    ------
    ValueError
        If it is neither, is empty, disordered, or has a degenerate cell.
    """
    if isinstance(structure, Atoms):
        atoms = structure.copy()
    else:
        try:
            from pymatgen.core import Structure
        except ImportError:  # pragma: no cover - pymatgen is a dependency
            Structure = ()
        if not isinstance(structure, Structure):
            raise ValueError(
                f"expected a pymatgen Structure or ase Atoms, got {type(structure).__name__}"
            )
        if not structure.is_ordered:
            raise ValueError("expected an ordered structure (no partial occupancies)")
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(structure)
    if len(atoms) == 0:
        raise ValueError("expected a structure with at least one atom")
    if abs(atoms.cell.volume) < 1e-6:
        raise ValueError("expected a structure with a three-dimensional cell (volume > 0)")
    atoms.pbc = True
    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell.array, pbc=True)


def _primitive(atoms: Atoms) -> Atoms:
    """Primitive cell in the same Cartesian frame (pymatgen keeps the frame)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(atoms)
    primitive = structure.get_primitive_structure(tolerance=1e-3)
    # Same frame check: the given cell vectors must be integer combinations of
    # the primitive ones; otherwise keep the given cell (still correct, larger).
    frac = atoms.cell.array @ np.linalg.inv(primitive.lattice.matrix)
    if not np.allclose(frac, np.round(frac), atol=1e-4):
        return atoms.copy()
    return as_atoms(primitive)


def _rotated(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    """Rigidly rotate cell and atoms: ``r_lab = rotation @ r``."""
    rotated = atoms.copy()
    rotated.set_cell(atoms.cell.array @ rotation.T, scale_atoms=True)
    return rotated


def _validate_uvw(zone_axis) -> tuple[int, int, int]:
    uvw = np.asarray(zone_axis)
    if uvw.shape != (3,) or not np.all(np.isfinite(uvw.astype(float))):
        raise ValueError(f"expected a zone axis of three integers [u, v, w], got {zone_axis!r}")
    if not np.allclose(uvw, np.round(uvw)) or not np.any(uvw != 0):
        raise ValueError(f"expected a non-zero integer zone axis [u, v, w], got {zone_axis!r}")
    uvw = np.round(uvw).astype(int)
    g = math.gcd(*map(abs, uvw.tolist()))
    return tuple(int(v) for v in uvw // g)


# --------------------------------------------------------------------------- #
# Zone axes
# --------------------------------------------------------------------------- #
def plane_indices(cell, zone_axis, *, max_index: int = 12) -> tuple[int, int, int] | None:
    """Miller indices (hkl) of the lattice planes normal to direction [uvw].

    The plane normal to [uvw] has reciprocal-lattice indices proportional to
    ``G @ uvw`` with the metric tensor ``G = cell @ cell.T``.

    Parameters
    ----------
    cell : array of shape (3, 3)
        Lattice vectors as rows [Å].
    zone_axis : three int
        Direction [uvw] in units of the lattice vectors.
    max_index : int
        Largest Miller index accepted for a rational (hkl).

    Returns
    -------
    tuple of int or None
        Coprime (hkl), or None when no lattice plane with indices up to
        ``max_index`` is normal to [uvw] (irrational metric, e.g. hexagonal [101]).
    """
    uvw = np.array(_validate_uvw(zone_axis), dtype=float)
    cell = np.asarray(cell, dtype=float)
    metric = cell @ cell.T
    hkl = metric @ uvw
    hkl = hkl / np.abs(hkl).max()
    fractions = [Fraction(v).limit_denominator(max_index) for v in hkl]
    if not np.allclose([float(f) for f in fractions], hkl, atol=1e-6):
        return None
    denominator = math.lcm(*(f.denominator for f in fractions))
    ints = [int(f * denominator) for f in fractions]
    g = math.gcd(*map(abs, ints))
    ints = [v // g for v in ints]
    if max(map(abs, ints)) > max_index:
        return None
    return tuple(ints)


def _lattice_vectors(cell: np.ndarray, max_index: int) -> tuple[np.ndarray, np.ndarray]:
    """All integer combinations up to ``max_index`` and their Cartesian vectors."""
    rng = np.arange(-max_index, max_index + 1)
    n = np.array(list(itertools.product(rng, rng, rng)))
    n = n[np.any(n != 0, axis=1)]
    return n, n @ cell


def _zone_rotation(cell: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Rotation taking ``direction`` to +z and the shortest normal lattice vector to +x."""
    z = direction / np.linalg.norm(direction)
    _, vectors = _lattice_vectors(cell, 4)
    lengths = np.linalg.norm(vectors, axis=1)
    cosines = np.abs(vectors @ z) / lengths
    normal = cosines < 1e-6
    if not np.any(normal):  # irrational plane: take the most nearly normal short vector
        normal = cosines <= cosines.min() + 1e-9
    candidates = vectors[normal]
    x = candidates[np.argmin(np.linalg.norm(candidates, axis=1))]
    x = x - (x @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.array([x, y, z])


def _tiles(length_A: float, lateral_size_A: float) -> int:
    """Smallest number of periods that covers ``lateral_size_A``."""
    return max(1, math.ceil(lateral_size_A / length_A - 1e-6))


def zone_axis_crystal(
    structure,
    zone_axis,
    *,
    max_strain: float = 0.01,
    max_repetitions: int = 6,
    lateral_size_A: float = SIMULATION_CELL,
) -> OrientedCrystal:
    """Orient a crystal along a zone axis as a periodic orthogonal cell.

    Parameters
    ----------
    structure : pymatgen.core.Structure or ase.Atoms
        The crystal; [uvw] refers to its cell vectors.
    zone_axis : three int
        Beam direction [uvw] (any lattice).
    max_strain : float
        Largest accepted ``‖A − I‖₂`` of the orthogonalising transform
        (dimensionless; 0.01 = 1 %).
    max_repetitions : int
        Largest repetition of the primitive vectors searched by
        ``abtem.orthogonalize_cell``.
    lateral_size_A : float
        The unit is tiled to at least this width [Å] (46.08 Å by default).

    Returns
    -------
    OrientedCrystal
        ``z_periodic`` unit with lateral ``repetitions``.

    Raises
    ------
    ValueError
        If [uvw] is not a non-zero integer triple, or no orthogonal cell within
        ``max_strain`` exists (the message gives the strain found).
    """
    import abtem

    if not (0.0 <= max_strain < 0.2):
        raise ValueError(f"expected 0 <= max_strain < 0.2, got {max_strain}")
    uvw = _validate_uvw(zone_axis)
    atoms = as_atoms(structure)
    direction = np.array(uvw, dtype=float) @ atoms.cell.array
    primitive = _primitive(atoms)
    rotation = _zone_rotation(primitive.cell.array, direction)
    rotated = _rotated(primitive, rotation)
    try:
        unit, transform = abtem.orthogonalize_cell(
            rotated, max_repetitions=max_repetitions, return_transform_matrix=True
        )
    except (RuntimeError, ValueError) as error:
        raise ValueError(
            f"cannot orthogonalise {atoms.get_chemical_formula()} along {list(uvw)}: {error}"
        ) from error
    strain = float(np.linalg.norm(np.asarray(transform) - np.eye(3), ord=2))
    if strain > max_strain:
        raise ValueError(
            f"zone axis {list(uvw)} of {atoms.get_chemical_formula()} needs a transform of "
            f"{100 * strain:.2f} % to become an orthogonal periodic cell; expected at most "
            f"{100 * max_strain:.2f} % (max_strain)"
        )
    expected_atoms = len(primitive) * unit.cell.volume / primitive.cell.volume
    if abs(expected_atoms - len(unit)) > 0.5:
        raise ValueError(
            f"orthogonal cell along {list(uvw)} holds {len(unit)} atoms, expected "
            f"{expected_atoms:.1f}: the cut lost or duplicated atoms"
        )
    unit = Atoms(
        unit.numbers, positions=unit.positions, cell=np.diag(np.diag(unit.cell.array)), pbc=True
    )
    unit.wrap()
    lengths = np.diag(unit.cell.array)
    repetitions = (_tiles(lengths[0], lateral_size_A), _tiles(lengths[1], lateral_size_A))
    return OrientedCrystal(
        atoms=unit,
        repetitions=repetitions,
        z_periodic=True,
        lattice=unit,
        rotation=rotation,
        kind="zone_axis",
        zone_axis=uvw,
        plane_indices=plane_indices(atoms.cell.array, uvw),
        transform_strain=strain,
        formula=atoms.get_chemical_formula(),
    )


def periodic_crystal(
    atoms_or_structure, *, lateral_size_A: float = SIMULATION_CELL
) -> OrientedCrystal:
    """Wrap a cell that is already orthogonal and oriented (beam along z).

    Parameters
    ----------
    atoms_or_structure : ase.Atoms or pymatgen.core.Structure
        Orthogonal cell [Å], periodic along x, y and z.
    lateral_size_A : float
        The cell is tiled to at least this width [Å].

    Raises
    ------
    ValueError
        If the cell is not orthogonal and axis-aligned.
    """
    atoms = as_atoms(atoms_or_structure)
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > _ORTHOGONAL_TOL * np.abs(cell).max():
        raise ValueError(
            "expected an orthogonal, axis-aligned cell; orient it first with "
            "zone_axis_crystal or random_orientation_crystal"
        )
    atoms.wrap()
    lengths = np.diag(cell)
    return OrientedCrystal(
        atoms=atoms,
        repetitions=(_tiles(lengths[0], lateral_size_A), _tiles(lengths[1], lateral_size_A)),
        z_periodic=True,
        lattice=atoms,
        rotation=np.eye(3),
        kind="periodic",
        formula=atoms.get_chemical_formula(),
    )


def _symmetry_rotations(atoms: Atoms) -> list[np.ndarray]:
    """Point-group rotations in fractional coordinates of the given cell."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = AseAtomsAdaptor.get_structure(atoms)
    operations = SpacegroupAnalyzer(structure, symprec=1e-3).get_symmetry_operations(
        cartesian=False
    )
    return [np.round(op.rotation_matrix).astype(int) for op in operations]


def low_index_zone_axes(
    structure,
    *,
    count: int = 5,
    max_index: int = 3,
    max_strain: float = 0.01,
) -> list[tuple[int, int, int]]:
    """The lowest-index symmetry-distinct zone axes that orient cleanly.

    Directions [uvw] with ``|u|, |v|, |w| <= max_index`` are grouped by the
    crystal's point group and by ``[uvw] ~ [-u-v-w]`` (Friedel), ordered by
    largest index, then index sum, then real-space period [Å], and kept when
    :func:`zone_axis_crystal` accepts them (transform within ``max_strain``).

    Parameters
    ----------
    structure : pymatgen.core.Structure or ase.Atoms
        The crystal; indices refer to its cell vectors.
    count : int
        How many axes to return (fewer if fewer qualify).
    max_index : int
        Largest index searched.
    max_strain : float
        As in :func:`zone_axis_crystal`.

    Returns
    -------
    list of tuple of int
    """
    if count < 1 or max_index < 1:
        raise ValueError(f"expected count >= 1 and max_index >= 1, got {count}, {max_index}")
    atoms = as_atoms(structure)
    rotations = _symmetry_rotations(atoms)
    seen: set[tuple[int, int, int]] = set()
    candidates = []
    for uvw in itertools.product(range(-max_index, max_index + 1), repeat=3):
        if not any(uvw) or math.gcd(*map(abs, uvw)) != 1:
            continue
        orbit = {tuple(int(v) for v in r @ np.array(uvw)) for r in rotations}
        orbit |= {tuple(-v for v in o) for o in orbit}
        key = max(orbit)
        if key in seen:
            continue
        seen.add(key)
        period = float(np.linalg.norm(np.array(key) @ atoms.cell.array))
        candidates.append((max(map(abs, key)), sum(map(abs, key)), period, key))
    chosen = []
    for *_, uvw in sorted(candidates):
        try:
            zone_axis_crystal(atoms, uvw, max_strain=max_strain)
        except ValueError:
            continue
        chosen.append(uvw)
        if len(chosen) == count:
            break
    return chosen


# --------------------------------------------------------------------------- #
# Random orientations
# --------------------------------------------------------------------------- #
def random_orientation_crystal(
    structure,
    *,
    thickness_nm: float,
    seed: int | np.random.Generator | None = 0,
    lateral_size_A: float = SIMULATION_CELL,
) -> OrientedCrystal:
    """Rotate a crystal at random and cut a non-periodic block.

    Parameters
    ----------
    structure : pymatgen.core.Structure or ase.Atoms
        The crystal.
    thickness_nm : float
        Block thickness [nm]; the largest thickness that can be simulated.
    seed : int or numpy.random.Generator
        Seed of the uniform random rotation (same seed, same block).
    lateral_size_A : float
        Lateral block size [Å]; 46.08 Å gives exactly 0.0217 Å⁻¹ pixels.

    Returns
    -------
    OrientedCrystal
        Block with ``z_periodic=False``; ``lattice`` is the rotated primitive cell.
    """
    import abtem
    from scipy.spatial.transform import Rotation

    if not np.isfinite(thickness_nm) or thickness_nm <= 0:
        raise ValueError(f"expected thickness_nm > 0, got {thickness_nm}")
    if not lateral_size_A > 0:
        raise ValueError(f"expected lateral_size_A > 0, got {lateral_size_A}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    rotation = Rotation.random(random_state=rng).as_matrix()
    atoms = as_atoms(structure)
    primitive = _rotated(_primitive(atoms), rotation)
    block = abtem.atoms.cut_cell(
        primitive, cell=(lateral_size_A, lateral_size_A, 10.0 * thickness_nm)
    )
    block = Atoms(
        block.numbers, positions=block.positions, cell=np.diag(np.diag(block.cell.array)), pbc=True
    )
    return OrientedCrystal(
        atoms=block,
        repetitions=(1, 1),
        z_periodic=False,
        lattice=primitive,
        rotation=rotation,
        kind="random",
        formula=atoms.get_chemical_formula(),
    )


# --------------------------------------------------------------------------- #
# Mistilt
# --------------------------------------------------------------------------- #
def mistilt_mrad(angle: float, azimuth_deg: float, *, unit: str = "mrad") -> tuple[float, float]:
    """Beam tilt ``(tx, ty)`` [mrad] for a mistilt of ``angle`` towards ``azimuth_deg``.

    Parameters
    ----------
    angle : float
        Mistilt magnitude, in ``unit`` (``"mrad"`` or ``"deg"``), ≥ 0.
    azimuth_deg : float
        Direction of the tilt in the pattern plane [degrees from +x towards +y].
    """
    if unit not in ("mrad", "deg"):
        raise ValueError(f"expected unit 'mrad' or 'deg', got {unit!r}")
    if not np.isfinite(angle) or angle < 0:
        raise ValueError(f"expected a mistilt angle >= 0, got {angle}")
    magnitude = float(angle) * (1000.0 * math.pi / 180.0 if unit == "deg" else 1.0)
    if magnitude > MAX_TILT_MRAD:
        raise ValueError(
            f"mistilt {magnitude:.1f} mrad exceeds {MAX_TILT_MRAD} mrad, the range where a "
            "beam tilt stands for a specimen tilt"
        )
    phi = math.radians(azimuth_deg)
    return (magnitude * math.cos(phi), magnitude * math.sin(phi))


def random_mistilt_mrad(
    rng: np.random.Generator | int | None, *, max_deg: float
) -> tuple[float, float]:
    """Random mistilt: magnitude uniform in [0, ``max_deg``] degrees, azimuth uniform.

    Returns
    -------
    tuple of float
        ``(tx, ty)`` [mrad].
    """
    if not np.isfinite(max_deg) or max_deg < 0:
        raise ValueError(f"expected max_deg >= 0, got {max_deg}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return mistilt_mrad(rng.uniform(0, max_deg), rng.uniform(0, 360.0), unit="deg")


def beam_direction(tilt_mrad=(0.0, 0.0)) -> np.ndarray:
    """Unit vector of the beam in the lab frame for an abTEM beam tilt.

    A tilt ``(tx, ty)`` [mrad] makes the beam advance by ``tan(t)`` laterally
    per unit depth, towards +x for ``tx > 0`` (abTEM's convention, checked in
    the tests): ``b ∝ (tan tx, tan ty, 1)``.
    """
    tx, ty = (float(v) * 1e-3 for v in tilt_mrad)
    vector = np.array([math.tan(tx), math.tan(ty), 1.0])
    return vector / np.linalg.norm(vector)
