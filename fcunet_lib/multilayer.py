"""The simulated Si/SiGe multilayer of Fig. 3, in the column approximation.

(The stack itself, interfaces included, is :mod:`fcunet_lib.multilayer_supercell`;
both return a :class:`MultilayerScan` of the same :class:`Multilayer`.)

The paper's sample (Methods, "Simulated diffraction of SiGe multilayers"): a
multilayer seen along [011], alternating Si and Si₀.₅Ge₀.₅ layers on a
Si₀.₇₅Ge₀.₂₅ substrate of lattice parameter 5.6034 Å, the layers strained by
exactly +1 % and −1 % relative to the substrate along the layer normal and
lattice-matched in the interface plane (expected ε_yy = 0); 200 kV, 2 mrad,
40 nm thick. Two datasets: ``on_zone`` (exactly along [011]) and ``mistilt``
(a helical twist: the tilt magnitude rises linearly from 0.4° at the
substrate to 4.4° at the far side while its direction turns from 45° to 315°).

Column approximation
--------------------
The paper simulated the whole stack (50 × 201 probe positions through one
large multislice model). Here every probe position is simulated as an
*infinite bulk crystal* with that position's lattice, composition and tilt:

* the lattice is tetragonally distorted along the layer normal only,
  ``a_x = a_s (1 + ε)``, ``a_y = a_z = a_s`` (x ∥ [100], y ∥ [01̄1], beam
  z ∥ [011]; 4-atom orthogonal cell);
* the composition is a virtual crystal: every site carries
  ``(1 − x)·V_Si + x·V_Ge`` (abTEM potentials of the all-Si and all-Ge cell,
  mixed slice by slice), so a random alloy's diffuse scattering is absent;
* the tilt is the beam tilt of :func:`fcunet_lib.orientation.mistilt_mrad`.

So a probe never sees an interface, and positions with the same lattice and
tilt give identical patterns: they share one simulation
(:func:`simulate_scan`). What the approximation leaves out — the
interfaces' own scattering, which the paper names as one source of its
on-zone FCU-Net error — is said on the figure and in the result file
(``"approximation": "column"``).

Geometry and axes
-----------------
The scan is ``[rx, ry]``; rx runs along the layer normal x, from the far side
(rx = 0, left in the figures) through the layers to the substrate (right,
the strain reference); ry runs along the interfaces. Real-space x and y are
the pattern's qx and qy (array axes 0 and 1), so py4DSTEM's ε_xx is the
strain along the layer normal. Layers are counted from the substrate
outward: layer 0 (touching the substrate) is Si₀.₅Ge₀.₅ at +1 %.

Strain convention (py4DSTEM's, see :mod:`fcunet_lib.strain`): a layer whose
lattice parameter is ``a_s (1 + ε)`` reads ``ε_xx = 1 − 1/(1 + ε)``, i.e.
+0.990 % for the +1 % layers and −1.010 % for the −1 % ones;
:func:`expected_strain` returns exactly what an ideal measurement gives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcunet_lib import checks, npz_cache
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

__all__ = [
    "SUBSTRATE_A",
    "Multilayer",
    "ColumnSpec",
    "MultilayerScan",
    "fig3_multilayer",
    "layer_profile",
    "expected_strain",
    "tilt_profile",
    "column_specs",
    "column_crystal",
    "reciprocal_basis_px",
    "simulate_column",
    "ALLOY_POOL",
    "simulate_scan",
    "virtual_bright_field",
    "reference_mask",
    "measure_strain",
]

#: Lattice parameter of the Si₀.₇₅Ge₀.₂₅ substrate [Å] (the paper's value).
SUBSTRATE_A = 5.6034
#: Name of the substrate region.
SUBSTRATE = "substrate"
#: Bump when the simulation recipe changes: old cache files are then ignored.
_CACHE_VERSION = 2
#: abTEM settings of every multilayer simulation: no progress bars, and FFTW_ESTIMATE, a plan that
#: depends only on the size, so the same simulation gives the same bytes in every process
#: (FFTW_MEASURE times candidate plans and may pick another one).
QUIET_ABTEM = {"diagnostics.progress_bar": False, "fftw.planning_effort": "FFTW_ESTIMATE"}


# --------------------------------------------------------------------------- #
# The sample (pure)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Multilayer:
    """Geometry, materials and imaging conditions of the Fig. 3 sample.

    Attributes
    ----------
    n_layers : int
        Number of strained layers.
    layer_positions : int
        Probe positions across one layer.
    substrate_positions : int
        Probe positions in the substrate (the strain reference).
    step_nm : float
        Probe step along x [nm] (labels only: in the column approximation the
        patterns do not depend on it).
    substrate_a_A : float
        Substrate lattice parameter [Å].
    substrate_x_ge : float
        Ge fraction of the substrate.
    layer_x_ge : tuple of float
        Ge fraction of the alternating layers, from the substrate outward.
    layer_strain : tuple of float
        Lattice strain ``a_x / a_s − 1`` of those layers along x [fraction].
    tilt_deg : (float, float)
        Mistilt magnitude at the substrate end and at the far end [degrees].
    azimuth_deg : (float, float)
        Mistilt direction at the substrate end and at the far end [degrees
        from +x towards +y].
    energy_kv : float
        Beam energy [kV].
    semiangle_mrad : float
        Probe convergence semiangle [mrad].
    thickness_nm : float
        Specimen thickness [nm].
    """

    n_layers: int
    layer_positions: int
    substrate_positions: int
    step_nm: float = 1.0
    substrate_a_A: float = SUBSTRATE_A
    substrate_x_ge: float = 0.25
    layer_x_ge: tuple[float, ...] = (0.5, 0.0)
    layer_strain: tuple[float, ...] = (0.01, -0.01)
    tilt_deg: tuple[float, float] = (0.4, 4.4)
    azimuth_deg: tuple[float, float] = (45.0, 315.0)
    energy_kv: float = 200.0
    semiangle_mrad: float = 2.0
    thickness_nm: float = 40.0

    def __post_init__(self):
        for name in ("n_layers", "layer_positions", "substrate_positions"):
            checks.positive_integer(name, getattr(self, name))
        if len(self.layer_x_ge) != len(self.layer_strain) or not self.layer_strain:
            raise ValueError("layer_x_ge and layer_strain must be non-empty and of equal length")
        for x in (self.substrate_x_ge, *self.layer_x_ge):
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"Ge fractions must lie in [0, 1]; got {x}")
        if any(not -0.2 < e < 0.2 for e in self.layer_strain):
            raise ValueError(f"layer strains must be small fractions (|ε| < 0.2); got {self.layer_strain}")
        for name, unit in (("step_nm", "nm"), ("substrate_a_A", "Å"), ("energy_kv", "kV"),
                           ("semiangle_mrad", "mrad"), ("thickness_nm", "nm")):
            checks.positive_number(name, getattr(self, name), unit)
        if min(self.tilt_deg) < 0:
            raise ValueError(f"tilt_deg must be non-negative [degrees]; got {self.tilt_deg}")

    @property
    def n_positions(self) -> int:
        """Probe positions along x (the scan's rx)."""
        return self.n_layers * self.layer_positions + self.substrate_positions

    def to_dict(self) -> dict:
        """Plain JSON data, with the number of positions."""
        return dataclasses.asdict(self) | {"n_positions": self.n_positions}


def fig3_multilayer(n_positions: int, *, step_nm: float = 1.0, **overrides) -> Multilayer:
    """The Fig. 3 sample laid out on ``n_positions`` probe positions along x.

    About a quarter of the scan (at least one position) is substrate; the
    rest is split into layers of ``max(1, rest // 6)`` positions, so a large
    scan shows about six layers (the paper's 201 positions: six layers of 25)
    and a tiny one still samples every layer; leftover positions go to the
    substrate.

    Parameters
    ----------
    n_positions : int
        Probe positions along the layer normal, at least 2.
    step_nm : float
        Probe step [nm].
    **overrides
        Other :class:`Multilayer` fields.

    Returns
    -------
    Multilayer
    """
    if not checks.is_integer(n_positions) or n_positions < 2:
        raise ValueError(f"n_positions must be an integer >= 2 (layers and substrate); got {n_positions!r}")
    substrate = max(1, n_positions // 4)
    rest = n_positions - substrate
    per_layer = max(1, rest // 6)
    n_layers = rest // per_layer
    substrate = n_positions - n_layers * per_layer
    return Multilayer(n_layers=int(n_layers), layer_positions=int(per_layer),
                      substrate_positions=int(substrate), step_nm=step_nm, **overrides)


def layer_profile(sample: Multilayer) -> dict:
    """What sits at every probe position along x.

    Returns
    -------
    dict of ndarray, one entry per position (rx = 0 … n_positions − 1)
        ``x_nm`` (position centre [nm]), ``layer`` (index counted from the
        substrate outward, −1 in the substrate), ``region`` (``"substrate"``
        or the layer's composition, e.g. ``"Si0.50Ge0.50"``), ``x_ge``,
        ``lattice_strain`` (``a_x / a_s − 1``), ``a_x_A`` and ``a_yz_A``
        (local lattice parameters [Å]).
    """
    n = sample.n_positions
    index = np.arange(n)
    in_layers = index < sample.n_layers * sample.layer_positions
    layer = np.where(in_layers, sample.n_layers - 1 - index // sample.layer_positions, -1)
    kind = np.where(in_layers, layer % len(sample.layer_strain), 0)
    x_ge = np.where(in_layers, np.asarray(sample.layer_x_ge)[kind], sample.substrate_x_ge)
    strain = np.where(in_layers, np.asarray(sample.layer_strain)[kind], 0.0)
    region = np.array([_composition(x) if inside else SUBSTRATE for x, inside in zip(x_ge, in_layers)])
    return {
        "x_nm": (index + 0.5) * sample.step_nm,
        "layer": layer,
        "region": region,
        "x_ge": x_ge.astype(float),
        "lattice_strain": strain.astype(float),
        "a_x_A": sample.substrate_a_A * (1.0 + strain),
        "a_yz_A": np.full(n, sample.substrate_a_A),
    }


def _composition(x_ge: float) -> str:
    if x_ge == 0.0:
        return "Si"
    if x_ge == 1.0:
        return "Ge"
    return f"Si{1 - x_ge:.2f}Ge{x_ge:.2f}"


def expected_strain(sample: Multilayer) -> tuple[np.ndarray, np.ndarray]:
    """The strain an ideal measurement reads at every position (substrate reference).

    Returns
    -------
    e_xx, e_yy : ndarray of shape (n_positions,)
        In py4DSTEM's real-space convention [fraction]:
        ``e_xx = 1 − a_s / a_x`` (+0.990 % for a +1 % layer), ``e_yy = 0``.
    """
    profile = layer_profile(sample)
    e_xx = 1.0 - sample.substrate_a_A / profile["a_x_A"]
    return e_xx, np.zeros_like(e_xx)


def tilt_profile(sample: Multilayer, *, tilted: bool = True) -> dict:
    """Mistilt at every position along x (the helical twist).

    The tilt magnitude and direction change linearly with position, from
    ``tilt_deg[0]``, ``azimuth_deg[0]`` at the last position (substrate end)
    to ``tilt_deg[1]``, ``azimuth_deg[1]`` at the first (far end).

    Parameters
    ----------
    sample : Multilayer
    tilted : bool
        False for the on-zone dataset (every tilt zero).

    Returns
    -------
    dict of ndarray
        ``magnitude_deg``, ``azimuth_deg`` and ``tilt_mrad`` (shape
        (n_positions, 2): the beam tilt ``(tx, ty)`` [mrad]).
    """
    from fcunet_lib.orientation import mistilt_mrad

    n = sample.n_positions
    towards_far = (n - 1 - np.arange(n)) / max(n - 1, 1)  # 0 at the substrate end, 1 at the far end
    if tilted:
        magnitude = sample.tilt_deg[0] + (sample.tilt_deg[1] - sample.tilt_deg[0]) * towards_far
        azimuth = sample.azimuth_deg[0] + (sample.azimuth_deg[1] - sample.azimuth_deg[0]) * towards_far
    else:
        magnitude, azimuth = np.zeros(n), np.zeros(n)
    tilt = np.array([mistilt_mrad(float(m), float(a), unit="deg") for m, a in zip(magnitude, azimuth)])
    return {"magnitude_deg": magnitude, "azimuth_deg": azimuth, "tilt_mrad": tilt.reshape(n, 2)}


@dataclass(frozen=True)
class ColumnSpec:
    """Everything that makes one position's pattern: the key of the simulation cache.

    Attributes
    ----------
    a_x_A, a_yz_A : float
        Local lattice parameters along the layer normal and in plane [Å].
    x_ge : float
        Ge fraction of the virtual crystal.
    tilt_mrad : (float, float)
        Beam tilt [mrad].
    """

    a_x_A: float
    a_yz_A: float
    x_ge: float
    tilt_mrad: tuple[float, float]

    @classmethod
    def rounded(cls, a_x_A, a_yz_A, x_ge, tilt_mrad):
        """A spec with values rounded (1e-9 Å, 1e-9, 1e-6 mrad) so equal states hash equal."""
        return cls(round(float(a_x_A), 9), round(float(a_yz_A), 9), round(float(x_ge), 9),
                   tuple(round(float(t), 6) + 0.0 for t in tilt_mrad))


def column_specs(sample: Multilayer, *, tilted: bool) -> tuple[ColumnSpec, ...]:
    """The :class:`ColumnSpec` of every position along x."""
    profile = layer_profile(sample)
    tilts = tilt_profile(sample, tilted=tilted)["tilt_mrad"]
    return tuple(ColumnSpec.rounded(ax, ayz, x, t) for ax, ayz, x, t in
                 zip(profile["a_x_A"], profile["a_yz_A"], profile["x_ge"], tilts))


def reciprocal_basis_px(sample: Multilayer, *, pixel_size: float = RECIPROCAL_PIXEL_SIZE):
    """The substrate's (1 1 1̄) and (1 1̄ 1) reflections [pixels, (qx, qy)].

    With x ∥ [100] and y ∥ [01̄1] they sit at ``(1/a, ±√2/a)``: the two
    shortest reciprocal vectors of the [011] pattern, the natural g1, g2 for
    :func:`fcunet_lib.strain.strain_map`.
    """
    a = sample.substrate_a_A
    g1 = np.array([1.0 / a, math.sqrt(2.0) / a]) / pixel_size
    g2 = np.array([1.0 / a, -math.sqrt(2.0) / a]) / pixel_size
    return g1, g2


def reference_mask(sample: Multilayer, n_y: int) -> np.ndarray:
    """Boolean scan mask ``[rx, ry]`` of the substrate (the strain reference)."""
    substrate = layer_profile(sample)["region"] == SUBSTRATE
    return np.repeat(substrate[:, None], n_y, axis=1)


# --------------------------------------------------------------------------- #
# One position: a bulk virtual crystal
# --------------------------------------------------------------------------- #
def column_crystal(a_x_A: float, a_yz_A: float):
    """The [011] diamond cell with x ∥ [100], strained along x only.

    Four atoms (Si numbers; the composition enters the potential, see
    :func:`simulate_column`) in an orthogonal cell ``a_x × a/√2 × a/√2``,
    tiled by :func:`fcunet_lib.orientation.periodic_crystal` to ≥ 46.08 Å.

    Parameters
    ----------
    a_x_A, a_yz_A : float
        Lattice parameters along [100] and along [010], [001] [Å].

    Returns
    -------
    OrientedCrystal
    """
    from ase import Atoms

    from fcunet_lib.orientation import periodic_crystal

    checks.positive_number("a_x_A", a_x_A, "Å")
    checks.positive_number("a_yz_A", a_yz_A, "Å")
    side = a_yz_A / math.sqrt(2.0)
    # diamond: fcc points + (¼, ¼, ¼), cubic fractions (u, v, w) -> (u a_x, (v − w) a/√2, (v + w) a/√2)
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    cubic = np.concatenate([fcc, fcc + 0.25])
    lab = np.stack([cubic[:, 0] * a_x_A, (cubic[:, 1] - cubic[:, 2]) * side,
                    (cubic[:, 1] + cubic[:, 2]) * side], axis=1)
    cell = np.array([a_x_A, side, side])
    wrapped = np.mod(lab + 1e-9, cell) - 1e-9
    unique = np.unique(np.round(wrapped, 6), axis=0)
    unique = np.clip(unique, 0.0, None)
    atoms = Atoms([14] * len(unique), positions=unique, cell=np.diag(cell), pbc=True)
    return periodic_crystal(atoms)


def simulate_column(spec: ColumnSpec, *, energy_kv: float, semiangle_mrad: float,
                    thickness_nm, pattern_size: int, setting=None, alloy_seed: int | None = None):
    """Multislice CBED pattern of one position: a bulk virtual crystal (abTEM).

    The potential slices of the all-Si and the all-Ge cell are built with
    abTEM on the same grid and mixed, ``(1 − x) V_Si + x V_Ge``; the mixed
    unit is tiled by ``abtem.CrystalPotential`` and a probe at the cell centre
    propagated through it; pattern and vacuum probe are resampled to the
    library grid (1/46.08 Å⁻¹ per pixel, centred) and divided by the vacuum
    probe's maximum, exactly as :func:`fcunet_lib.simulate.simulate_cbed_series`
    does for the library.

    With ``alloy_seed`` the crystal is a *random* alloy instead: a pool of
    :data:`ALLOY_POOL` four-atom cells whose sites are Ge or Si, exactly
    ``round(4 · pool · x)`` of them Ge, and every unit cell of the crystal
    draws one member of the pool (abTEM's ``CrystalPotential`` mosaic, seeded),
    so the alloy's disorder scatters diffusely between the disks.

    Parameters
    ----------
    spec : ColumnSpec
        Local lattice, composition and tilt.
    energy_kv, semiangle_mrad : float
        Beam energy [kV], convergence semiangle [mrad].
    thickness_nm : float or sequence of float
        Thickness [nm]; a strictly increasing sequence gives a thickness
        series from the one multislice run (exit planes).
    pattern_size : int
        Stored pattern size N [pixels].
    setting : SimulationSetting, optional
        Numerical setting (default: the library's).
    alloy_seed : int, optional
        None (default): the virtual crystal. An integer: the random alloy,
        seeded (the same seed gives the same bytes).

    Returns
    -------
    pattern, probe : ndarray of shape (N, N), float32
        For a sequence of thicknesses ``pattern`` has shape (n_thicknesses, N, N).
    """
    import abtem

    from fcunet_lib import simulate

    setting = simulate.DEFAULT_SETTING if setting is None else setting
    series = np.ndim(thickness_nm) > 0
    thicknesses = list(np.atleast_1d(np.asarray(thickness_nm, dtype=float)))
    if alloy_seed is not None and not (checks.is_integer(alloy_seed) and alloy_seed >= 0):
        raise ValueError(f"alloy_seed must be None (virtual crystal) or a non-negative integer; got {alloy_seed!r}")
    crystal = column_crystal(spec.a_x_A, spec.a_yz_A)
    grid = simulate.simulation_grid(crystal, setting)
    size = simulate._check_pattern_size(pattern_size, grid, setting)
    plan = simulate._slice_plan(crystal, thicknesses, setting)
    simulate._validate_probe(energy_kv, semiangle_mrad, spec.tilt_mrad, setting)
    options = {"gpts": grid["unit_gpts"], "slice_thickness": plan["slice_thickness_A"],
               "projection": setting.projection, "parametrization": setting.parametrization}
    repetitions = tuple(crystal.repetitions) + (plan["z_repetitions"],)
    with abtem.config.set(QUIET_ABTEM):
        if alloy_seed is None or spec.x_ge in (0.0, 1.0):
            potential = abtem.CrystalPotential(_virtual_crystal_unit(crystal.atoms, spec.x_ge, options),
                                               repetitions=repetitions, exit_planes=plan["exit_planes"])
        else:
            potential = abtem.CrystalPotential(
                _random_alloy_pool(crystal.atoms, spec.x_ge, options, seed=int(alloy_seed)),
                repetitions=repetitions, exit_planes=plan["exit_planes"], seeds=(int(alloy_seed),))
        extent = grid["extent_A"]
        probe = abtem.Probe(energy=energy_kv * 1e3, semiangle_cutoff=semiangle_mrad,
                            tilt=spec.tilt_mrad, extent=extent, gpts=grid["gpts"])
        exit_wave = probe.multislice(potential, scan=(extent[0] / 2, extent[1] / 2))
        pattern = exit_wave.diffraction_patterns(max_angle="cutoff").compute(scheduler="synchronous")
        vacuum = probe.build().diffraction_patterns(max_angle="cutoff").compute(scheduler="synchronous")
    patterns = simulate._thickness_stack(pattern, len(thicknesses))
    vacuum = np.asarray(vacuum.array, dtype=np.float64).reshape(vacuum.array.shape[-2:])
    dk = grid["reciprocal_sampling"]
    patterns = simulate._to_library_grid(patterns, dk, size)
    vacuum = simulate._to_library_grid(vacuum, dk, size)
    peak = vacuum.max()
    patterns = (patterns / peak).astype(np.float32)
    return (patterns if series else patterns[-1]), (vacuum / peak).astype(np.float32)


#: Random-alloy cells in the pool a random-alloy column draws its unit cells from.
ALLOY_POOL = 1024


def _virtual_crystal_unit(unit, x_ge, options: dict):
    """Potential slices of a unit cell with every site ``(1 − x) V_Si + x V_Ge``.

    Parameters
    ----------
    unit : ase.Atoms
        The cell (its atomic numbers are replaced).
    x_ge : float or ndarray of shape (len(unit),)
        Ge fraction, one for the whole cell or one per site (a multilayer
        supercell); sites of equal composition are built together.
    options : dict
        ``abtem.Potential`` options (grid, slicing, projection).

    Returns
    -------
    abtem.PotentialArray
    """
    import abtem

    per_site = np.broadcast_to(np.asarray(x_ge, dtype=float), (len(unit),))
    slices = 0.0
    for composition in np.unique(per_site):
        group = unit[per_site == composition] if np.any(per_site != composition) else unit
        for number, weight in ((14, 1.0 - composition), (32, composition)):
            if weight == 0:
                continue
            atoms = group.copy()
            atoms.numbers[:] = number
            built = abtem.Potential(atoms, **options).build().compute(scheduler="synchronous")
            slices = slices + weight * np.asarray(built.array)
    return abtem.PotentialArray(slices, slice_thickness=built.slice_thickness, extent=built.extent)


def _random_alloy_pool(unit, x_ge: float, options: dict, *, seed: int):
    """A pool of :data:`ALLOY_POOL` unit cells with random Si/Ge sites, exactly ``x_ge`` Ge overall.

    The infinite-projection potential is a sum over atoms, so each cell is
    assembled from the potentials of single sites (one abTEM build per site
    and species).
    """
    import abtem
    from abtem.core.axes import FrozenPhononsAxis

    single = {}
    for site in range(len(unit)):
        for number in (14, 32):
            atom = unit[[site]].copy()
            atom.numbers[:] = number
            built = abtem.Potential(atom, **options).build().compute(scheduler="synchronous")
            single[site, number] = np.asarray(built.array, dtype=np.float32)
    slots = ALLOY_POOL * len(unit)
    germanium = np.zeros(slots, dtype=bool)
    germanium[: round(x_ge * slots)] = True
    germanium = np.random.default_rng(seed).permutation(germanium).reshape(ALLOY_POOL, len(unit))
    pool = np.zeros((ALLOY_POOL,) + single[0, 14].shape, dtype=np.float32)
    for site in range(len(unit)):
        pool += np.where(germanium[:, site, None, None, None], single[site, 32][None], single[site, 14][None])
    return abtem.PotentialArray(pool, slice_thickness=built.slice_thickness, extent=built.extent,
                                ensemble_axes_metadata=[FrozenPhononsAxis(_ensemble_mean=True)])


# --------------------------------------------------------------------------- #
# The scan
# --------------------------------------------------------------------------- #
@dataclass
class MultilayerScan:
    """A simulated multilayer dataset.

    Attributes
    ----------
    data : ndarray of shape (Rx, Ry, N, N), float32
        Patterns (units of the vacuum probe's maximum), rx along the layer
        normal.
    probe : ndarray of shape (N, N), float32
        Vacuum probe (from the substrate's simulation).
    specs : tuple of ColumnSpec
        The state simulated at each rx.
    n_unique : int
        Distinct simulations the scan needs.
    n_simulated : int
        Simulations actually run (the rest came from the cache folder).
    """

    data: np.ndarray
    probe: np.ndarray
    specs: tuple
    n_unique: int
    n_simulated: int


def column_cache_key(spec: ColumnSpec, conditions: dict, *, version: int | None = _CACHE_VERSION) -> str:
    """Cache key of one column simulation: its spec plus the imaging ``conditions``.

    ``version=None`` leaves the recipe version out (callers that carry their
    own version inside ``conditions``).
    """
    payload = {"spec": dataclasses.asdict(spec), **conditions}
    if version is not None:
        payload["version"] = version
    return npz_cache.cache_key(payload)


def simulate_scan(sample: Multilayer, *, n_y: int, tilted: bool, pattern_size: int, setting=None,
                  cache_dir=None, simulator: Callable | None = None) -> MultilayerScan:
    """Simulate a multilayer scan, one simulation per distinct (lattice, tilt).

    Positions that share a :class:`ColumnSpec` (every ry of a column; every
    column of one layer kind when on zone) share one simulation. With
    ``cache_dir`` each simulation is also stored there (atomic ``.npz``,
    named by a hash of the spec and the conditions), so a rerun simulates
    nothing.

    Parameters
    ----------
    sample : Multilayer
    n_y : int
        Positions along the interfaces (ry).
    tilted : bool
        The helical mistilt (``mistilt`` dataset) or none (``on_zone``).
    pattern_size : int
        N [pixels] at 1/46.08 Å⁻¹.
    setting : SimulationSetting, optional
        Default: the library's.
    cache_dir : path, optional
        Folder of the on-disk cache.
    simulator : callable, optional
        ``simulator(spec) -> (pattern, probe)``; default
        :func:`simulate_column` with the sample's conditions (tests pass a
        cheap stand-in).

    Returns
    -------
    MultilayerScan
    """
    from fcunet_lib import simulate
    from fcunet_lib.progress import progress

    n_y = checks.positive_integer("n_y", n_y)
    setting = simulate.DEFAULT_SETTING if setting is None else setting
    conditions = {"energy_kv": sample.energy_kv, "semiangle_mrad": sample.semiangle_mrad,
                  "thickness_nm": sample.thickness_nm, "pattern_size": int(pattern_size),
                  "setting": setting.to_dict()}
    if simulator is None:
        def simulator(spec):
            return simulate_column(spec, energy_kv=sample.energy_kv, semiangle_mrad=sample.semiangle_mrad,
                                   thickness_nm=sample.thickness_nm, pattern_size=pattern_size,
                                   setting=setting)
    specs = column_specs(sample, tilted=tilted)
    unique = list(dict.fromkeys(specs))
    folder = Path(cache_dir) if cache_dir is not None else None
    results, simulated = {}, 0
    for spec in progress(unique, total=len(unique), desc="Multilayer columns", unit="sim"):
        path = folder / f"{column_cache_key(spec, conditions)}.npz" if folder is not None else None
        cached = npz_cache.load_arrays(path, ("pattern", "probe"))
        if cached is None:
            pattern, probe = (np.asarray(a, np.float32) for a in simulator(spec))
            simulated += 1
            if path is not None:
                npz_cache.save_arrays(path, pattern=pattern, probe=probe)
            cached = (pattern, probe)
        results[spec] = cached
    columns = np.stack([results[spec][0] for spec in specs])
    data = np.repeat(columns[:, None], n_y, axis=1)
    substrate = layer_profile(sample)["region"] == SUBSTRATE
    probe = results[specs[int(np.flatnonzero(substrate)[-1])]][1]
    return MultilayerScan(data=data, probe=probe, specs=specs, n_unique=len(unique),
                          n_simulated=simulated)


# --------------------------------------------------------------------------- #
# Reading the scan
# --------------------------------------------------------------------------- #
def virtual_bright_field(data: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Virtual bright field: the intensity inside the direct disk at each position.

    Parameters
    ----------
    data : ndarray of shape (Rx, Ry, N, N)
    probe : ndarray of shape (N, N)
        Vacuum probe; the detector is its disk (radius and centre measured).

    Returns
    -------
    ndarray of shape (Rx, Ry)
    """
    from fcunet_lib.disks import probe_disk

    data = np.asarray(data)
    if data.ndim != 4 or data.shape[2:] != np.shape(probe):
        raise ValueError(f"data must be [Rx, Ry, N, N] with the probe's shape; got {data.shape}, "
                         f"{np.shape(probe)}")
    radius, qx0, qy0 = probe_disk(probe)
    qx, qy = np.mgrid[: data.shape[2], : data.shape[3]]
    detector = np.hypot(qx - qx0, qy - qy0) <= radius
    return data[..., detector].sum(axis=-1)


def measure_strain(bv, sample: Multilayer, *, n_y: int, pixel_size: float = RECIPROCAL_PIXEL_SIZE) -> dict:
    """Strain maps from Bragg vectors against the substrate, and their errors.

    Runs :func:`fcunet_lib.strain.strain_map` with the substrate as the
    reference, the origin at the pattern centre (exact for these simulations:
    a beam tilt leaves the direct disk centred) and g1, g2 near the
    substrate's {111} reflections (:func:`reciprocal_basis_px`).

    Returns
    -------
    dict
        ``e_xx``, ``e_yy`` (maps [percent], NaN where the fit failed),
        ``profile_xx``, ``profile_yy`` (means over ry [percent]),
        ``exx_rms``, ``eyy_rms`` (RMS error against :func:`expected_strain`
        over the fitted positions of the layers [percent], None when none
        fitted), ``n_fitted`` (fitted positions in the layers), ``n_layer_positions``
        and ``error`` (None, or why the strain map could not be made — e.g. a
        smoke-scale model that finds no lattice).
    """
    from fcunet_lib.strain import strain_map

    n_x = sample.n_positions
    layers = ~reference_mask(sample, n_y)
    outcome = {"e_xx": np.full((n_x, n_y), np.nan), "e_yy": np.full((n_x, n_y), np.nan),
               "profile_xx": np.full(n_x, np.nan), "profile_yy": np.full(n_x, np.nan),
               "exx_rms": None, "eyy_rms": None, "n_fitted": 0,
               "n_layer_positions": int(layers.sum()), "error": None}
    g1, g2 = reciprocal_basis_px(sample, pixel_size=pixel_size)
    try:
        result = strain_map(bv, reference=reference_mask(sample, n_y), origin="center", g1=g1, g2=g2)
    except ValueError as error:
        outcome["error"] = str(error)
        return outcome
    fitted = result.mask
    truth_xx, truth_yy = (np.repeat(t[:, None], n_y, axis=1) for t in expected_strain(sample))
    for name, measured in (("e_xx", result.e_xx), ("e_yy", result.e_yy)):
        outcome[name] = np.where(fitted, 100.0 * measured, np.nan)
    with quiet_empty_means():
        outcome["profile_xx"] = np.nanmean(outcome["e_xx"], axis=1)
        outcome["profile_yy"] = np.nanmean(outcome["e_yy"], axis=1)
    counted = fitted & layers
    outcome["n_fitted"] = int(counted.sum())
    if counted.any():
        outcome["exx_rms"] = rms_percent(result.e_xx[counted] - truth_xx[counted])
        outcome["eyy_rms"] = rms_percent(result.e_yy[counted] - truth_yy[counted])
    outcome["strain"] = result
    return outcome


def rms_percent(difference: np.ndarray) -> float:
    """RMS of a strain difference [fraction], in percent."""
    return float(100.0 * np.sqrt(np.mean(np.square(difference))))


@contextlib.contextmanager
def quiet_empty_means():
    """Silence numpy's "mean of empty slice" for columns where no fit succeeded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
