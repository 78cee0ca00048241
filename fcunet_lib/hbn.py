"""The simulated stand-in for the h-BN scans of Fig. 4.

The paper's experiment (Methods, "Hexagonal-boron nitride"): a thin flake
exfoliated from a single crystal of h-BN, seen along [001] at 80 kV, scanned
with four probes — circular apertures of 0.86, 3.4 and 12 mrad and a 3.4 mrad
bullseye — 112 × 108 positions 100 Å apart. The flake is free of strain, so
the ideal map is 0 for ε_xx, ε_yy, ε_xy and θ. Those data are not reachable
from here; by default Fig. 4 runs on this stand-in, built to match the
experiment's conditions. Reading the scans (the real files, the bullseye
reference, the errors) is :mod:`fcunet_lib.hbn_strain`.

The stand-in
------------
* **Crystal**: bulk h-BN (a = 2.504 Å, c = 6.661 Å, AA' stacking) along
  [001], x along a₁; the true strain is zero at every position.
* **Thickness**: a smooth random field spanning 8–16 nm (about 25–50 layers):
  a flake thin enough to be called thin at 80 kV, thick enough that the
  first-order disks carry a few percent of the beam, so dynamical scattering
  shapes the disks as in the experiment (below ≈ 6 nm the overlapping 12 mrad
  disks leave correlation nothing to find); the field varies over
  ``correlation_length_nm`` (60 nm).
* **Tilt**: the gradient of a smooth random height field — the local tilt of a
  gently bent flake is the slope of its surface — scaled so that the largest
  tilt is 2 mrad (a fifth of the 9.6 mrad Bragg angle of {100} at 80 kV:
  intensities inside the disks change, the crystal stays on zone).
* **Dose**: 3 × 10⁵ electrons per pattern, about what 1 pA delivers in the
  paper's 50 ms dwell time (6.2 × 10⁶ e⁻/s × 0.05 s); Poisson counts, each
  pattern's expected total fixed (:func:`dose_counts`). The vacuum probe is
  noise-free, as an average over many vacuum patterns would be.

Cheap simulation: the tilt field is summarised by a handful of tilt states
(k-means, :func:`tilt_states`); per probe each state is one multislice run whose
exit planes give the whole thickness series
(:func:`fcunet_lib.simulate.simulate_cbed_series`); each position takes the
pattern of its nearest tilt state and nearest realised thickness
(:func:`assign_columns`), then its own shot noise. Every series is cached on
disk, so a rerun simulates nothing. Patterns are on the model's grid
(1/46.08 Å⁻¹ pixels, centred at ``(N//2, N//2)``); the direct beam stays at
the centre (a beam tilt does not move it, and no descan is added).
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fcunet_lib import checks, npz_cache
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

__all__ = [
    "ENERGY_KV",
    "PROBES",
    "REFERENCE_PROBE",
    "HBNScan",
    "ProbeSpec",
    "StandIn",
    "assign_columns",
    "dose_counts",
    "hbn_crystal",
    "lattice_spacing_inv_A",
    "nearest_index",
    "probe_spec",
    "reciprocal_basis_px",
    "requested_thicknesses",
    "simulate_scan",
    "simulate_series",
    "thickness_map",
    "tilt_map",
    "tilt_states",
]

#: Beam energy of the paper's h-BN experiment [kV].
ENERGY_KV = 80.0
#: Bump when the simulation recipe changes: old cache files are then ignored.
_CACHE_VERSION = 1


# --------------------------------------------------------------------------- #
# The four probes
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ProbeSpec:
    """One of the four probes of Fig. 4.

    Attributes
    ----------
    name : str
        Key in results and parameters, e.g. ``"circular_12mrad"``.
    semiangle_mrad : float
        Convergence semiangle [mrad].
    aperture : None or "bullseye"
        Circular aperture (None) or the patterned bullseye
        (:data:`fcunet_lib.simulate.BULLSEYE`).
    """

    name: str
    semiangle_mrad: float
    aperture: str | None = None

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"3.4 mrad bullseye"``."""
        return f"{self.semiangle_mrad:g} mrad" + (" bullseye" if self.aperture else "")

    def to_dict(self) -> dict:
        """Plain data: semiangle [mrad] and aperture ("circular" or "bullseye")."""
        return {"semiangle_mrad": self.semiangle_mrad, "aperture": self.aperture or "circular"}


#: The probes in the paper's column order (bullseye first: it is the reference).
PROBES: tuple[ProbeSpec, ...] = (
    ProbeSpec("bullseye_3.4mrad", 3.4, "bullseye"),
    ProbeSpec("circular_0.86mrad", 0.86),
    ProbeSpec("circular_3.4mrad", 3.4),
    ProbeSpec("circular_12mrad", 12.0),
)
#: The probe whose mean lattice is the strain reference.
REFERENCE_PROBE = "bullseye_3.4mrad"


def probe_spec(name: str) -> ProbeSpec:
    """The :class:`ProbeSpec` called ``name`` (one of :data:`PROBES`)."""
    for spec in PROBES:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown probe {name!r}; expected one of {[p.name for p in PROBES]}")


# --------------------------------------------------------------------------- #
# The stand-in sample (pure)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class StandIn:
    """Conditions of the simulated stand-in scan (see the module docstring for why).

    Attributes
    ----------
    scan_shape : (int, int)
        Probe positions (Rx, Ry), each at least 2.
    step_nm : float
        Probe step [nm] (the paper's 100 Å).
    thickness_range_nm : (float, float)
        Smallest and largest thickness of the field [nm].
    thickness_step_nm : float
        Spacing of the simulated thickness series [nm].
    max_tilt_mrad : float
        Largest local tilt of the bent flake [mrad].
    correlation_length_nm : float
        Length over which thickness and tilt change [nm] (Gaussian smoothing
        width of the random fields).
    n_tilt_states : int
        Distinct tilts simulated per probe (k-means states of the tilt field).
    dose : float
        Expected electrons per pattern.
    energy_kv : float
        Beam energy [kV].
    seed : int
        Seed of the fields and of the shot noise.
    """

    scan_shape: tuple[int, int]
    step_nm: float = 10.0
    thickness_range_nm: tuple[float, float] = (8.0, 16.0)
    thickness_step_nm: float = 1.0
    max_tilt_mrad: float = 2.0
    correlation_length_nm: float = 60.0
    n_tilt_states: int = 6
    dose: float = 3e5
    energy_kv: float = ENERGY_KV
    seed: int = 0

    def __post_init__(self):
        shape = tuple(self.scan_shape) if isinstance(self.scan_shape, (tuple, list)) else ()
        if len(shape) != 2 or not all(checks.is_integer(n) and n >= 2 for n in shape):
            raise ValueError(f"scan_shape must be two integers >= 2 (Rx, Ry); got {self.scan_shape!r}")
        object.__setattr__(self, "scan_shape", tuple(int(n) for n in shape))
        low, high = (float(t) for t in self.thickness_range_nm)
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise ValueError(f"thickness_range_nm must be (low, high) with 0 < low < high [nm]; "
                             f"got {self.thickness_range_nm!r}")
        for name, unit in (("step_nm", "nm"), ("thickness_step_nm", "nm"), ("correlation_length_nm", "nm"),
                           ("dose", "electrons per pattern"), ("energy_kv", "kV")):
            checks.positive_number(name, getattr(self, name), unit)
        if not (math.isfinite(self.max_tilt_mrad) and 0 <= self.max_tilt_mrad <= 50):
            raise ValueError(f"max_tilt_mrad must be in [0, 50] mrad; got {self.max_tilt_mrad!r}")
        checks.positive_integer("n_tilt_states", self.n_tilt_states)
        checks.seed(self.seed)

    def to_dict(self) -> dict:
        """Plain JSON data."""
        return dataclasses.asdict(self)


def _smooth_unit_field(shape, sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """White noise smoothed by a Gaussian of ``sigma_px`` and rescaled to [0, 1]."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="reflect")
    span = field.max() - field.min()
    return (field - field.min()) / span if span > 0 else np.full(shape, 0.5)


def thickness_map(stand_in: StandIn) -> np.ndarray:
    """Thickness at every probe position [nm], a smooth field spanning the range.

    Returns
    -------
    ndarray of shape (Rx, Ry)
        Its minimum and maximum are exactly ``thickness_range_nm``.
    """
    low, high = stand_in.thickness_range_nm
    rng = np.random.default_rng([stand_in.seed, 1])
    unit = _smooth_unit_field(stand_in.scan_shape, stand_in.correlation_length_nm / stand_in.step_nm, rng)
    return low + (high - low) * unit


def tilt_map(stand_in: StandIn) -> np.ndarray:
    """Local tilt at every probe position [mrad]: the slope of a smooth bent flake.

    Returns
    -------
    ndarray of shape (Rx, Ry, 2)
        Beam tilt ``(tx, ty)`` [mrad]; the largest magnitude is exactly
        ``max_tilt_mrad`` (all zero when it is 0).
    """
    rng = np.random.default_rng([stand_in.seed, 2])
    height = _smooth_unit_field(stand_in.scan_shape, stand_in.correlation_length_nm / stand_in.step_nm, rng)
    slope = np.stack(np.gradient(height), axis=-1)
    largest = np.hypot(slope[..., 0], slope[..., 1]).max()
    if largest == 0 or stand_in.max_tilt_mrad == 0:
        return np.zeros(stand_in.scan_shape + (2,))
    return slope * (stand_in.max_tilt_mrad / largest)


def nearest_index(values, candidates) -> np.ndarray:
    """Index of the nearest candidate for every value (Euclidean; first on ties).

    Parameters
    ----------
    values : ndarray of shape (...) or (..., d)
    candidates : ndarray of shape (k,) or (k, d)

    Returns
    -------
    ndarray of int, shape (...)
    """
    candidates = np.asarray(candidates, dtype=float)
    values = np.asarray(values, dtype=float)
    if candidates.ndim == 1:
        candidates, values = candidates[:, None], values[..., None]
    if candidates.ndim != 2 or candidates.shape[0] == 0 or values.shape[-1] != candidates.shape[1]:
        raise ValueError(f"expected values (..., d) and non-empty candidates (k, d); got {values.shape}, "
                         f"{candidates.shape}")
    distance = np.linalg.norm(values[..., None, :] - candidates, axis=-1)
    return np.argmin(distance, axis=-1)


def tilt_states(tilts, n_states: int, *, iterations: int = 50) -> np.ndarray:
    """A handful of tilts that stand for the whole tilt field (deterministic k-means).

    Farthest-point start (from the tilt nearest the mean), then Lloyd
    iterations; states no position uses are dropped. No random numbers: the
    same field always gives the same states.

    Parameters
    ----------
    tilts : ndarray of shape (..., 2)
        Tilts [mrad].
    n_states : int
        Most states returned.

    Returns
    -------
    ndarray of shape (k, 2), k <= n_states
        Tilt states [mrad], rounded to 1e-3 mrad and sorted.
    """
    points = np.asarray(tilts, dtype=float)
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"tilts must be a (..., 2) array [mrad]; got shape {points.shape}")
    points = points.reshape(-1, 2)
    if points.size == 0 or not np.all(np.isfinite(points)):
        raise ValueError("tilts must be a non-empty, finite (..., 2) array [mrad]")
    checks.positive_integer("n_states", n_states)
    distinct = np.unique(points, axis=0)
    k = min(int(n_states), len(distinct))
    chosen = [int(np.argmin(np.linalg.norm(distinct - points.mean(axis=0), axis=1)))]
    while len(chosen) < k:
        gap = np.min(np.linalg.norm(distinct[:, None] - distinct[chosen][None], axis=-1), axis=1)
        chosen.append(int(np.argmax(gap)))
    centres = distinct[chosen]
    for _ in range(iterations):
        label = nearest_index(points, centres)
        updated = np.array([points[label == i].mean(axis=0) if np.any(label == i) else centres[i]
                            for i in range(k)])
        if np.allclose(updated, centres, rtol=0, atol=1e-12):
            break
        centres = updated
    used = np.unique(nearest_index(points, centres))
    return np.unique(np.round(centres[used], 3) + 0.0, axis=0)  # sorted by tx, then ty


def requested_thicknesses(stand_in: StandIn) -> np.ndarray:
    """Thicknesses asked of every simulated series [nm]: the range in ``thickness_step_nm`` steps."""
    low, high = stand_in.thickness_range_nm
    count = math.floor((high - low) / stand_in.thickness_step_nm + 1e-9) + 1
    steps = low + stand_in.thickness_step_nm * np.arange(count)
    return steps if steps[-1] >= high - 1e-9 else np.append(steps, high)


def assign_columns(thickness_nm, tilt_mrad, thicknesses_nm, states_mrad):
    """Which simulated pattern every position takes: nearest tilt state, nearest thickness.

    Parameters
    ----------
    thickness_nm : ndarray of shape (Rx, Ry)
        Thickness field [nm].
    tilt_mrad : ndarray of shape (Rx, Ry, 2)
        Tilt field [mrad].
    thicknesses_nm : ndarray of shape (n,)
        Thicknesses of the simulated series [nm].
    states_mrad : ndarray of shape (k, 2)
        Simulated tilt states [mrad].

    Returns
    -------
    state_index, thickness_index : ndarray of int, shape (Rx, Ry)
    """
    thickness_nm = np.asarray(thickness_nm, dtype=float)
    tilt_mrad = np.asarray(tilt_mrad, dtype=float)
    if tilt_mrad.shape != thickness_nm.shape + (2,):
        raise ValueError(f"tilt_mrad must have shape {thickness_nm.shape + (2,)}; got {tilt_mrad.shape}")
    return nearest_index(tilt_mrad, states_mrad), nearest_index(thickness_nm, thicknesses_nm)


def dose_counts(patterns, dose: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts for ``dose`` expected electrons in each pattern.

    The expected counts are ``pattern / pattern.sum() * dose``: each pattern's
    shape, with its expected total fixed at ``dose``.

    Parameters
    ----------
    patterns : ndarray of shape (..., Qx, Qy)
        Noise-free patterns (any units), non-negative, each with a positive sum.
    dose : float
        Expected electrons per pattern.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of the same shape, float32
        Counts [electrons].
    """
    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.ndim < 2 or not np.all(np.isfinite(patterns)) or patterns.min() < 0:
        raise ValueError("patterns must be finite, non-negative (..., Qx, Qy) arrays")
    dose = checks.positive_number("dose", dose, "electrons per pattern")
    totals = patterns.sum(axis=(-2, -1), keepdims=True)
    if np.any(totals <= 0):
        raise ValueError("every pattern needs a positive sum to receive a dose")
    return rng.poisson(patterns / totals * dose).astype(np.float32)


# --------------------------------------------------------------------------- #
# Lattice geometry
# --------------------------------------------------------------------------- #
def hbn_crystal():
    """h-BN along [001] as a periodic orthogonal cell (x along a₁), from :mod:`fcunet_lib.materials`."""
    from fcunet_lib.materials import named_structure
    from fcunet_lib.orientation import zone_axis_crystal

    return zone_axis_crystal(named_structure("h-BN"), (0, 0, 1))


def lattice_spacing_inv_A() -> float:
    """Length of the {100} reciprocal vectors of h-BN, 2 / (√3 a) [1/Å]."""
    from fcunet_lib.materials import LATTICE_CONSTANTS

    return 2.0 / (math.sqrt(3.0) * LATTICE_CONSTANTS["h-BN"]["a"])


def reciprocal_basis_px(pixel_size: float = RECIPROCAL_PIXEL_SIZE):
    """g1 = (1 0 0)-type spot at 30° and g2 at 90° from qx [pixels, (qx, qy)].

    With x along a₁ the six {100} spots sit at 30° + n·60°; g1 and g2 are the
    two shortest non-parallel reciprocal vectors (60° apart).
    """
    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    g = lattice_spacing_inv_A() / pixel_size
    return (np.array([g * math.cos(math.pi / 6), g * math.sin(math.pi / 6)]), np.array([0.0, g]))


# --------------------------------------------------------------------------- #
# The simulated scan
# --------------------------------------------------------------------------- #
@dataclass
class HBNScan:
    """One probe's stand-in scan.

    Attributes
    ----------
    data : ndarray of shape (Rx, Ry, N, N), float32
        Counts [electrons].
    probe : ndarray of shape (N, N), float32
        Noise-free vacuum probe with the same expected total [electrons].
    thickness_nm, tilt_mrad : ndarray of shape (Rx, Ry) and (Rx, Ry, 2)
        The smooth fields [nm], [mrad].
    assigned_thickness_nm, assigned_tilt_mrad : ndarray
        The simulated thickness and tilt each position took.
    states_mrad : ndarray of shape (k, 2)
        Tilt states simulated [mrad].
    thicknesses_nm : ndarray of shape (n,)
        Realised thicknesses of every series [nm].
    n_unique, n_simulated : int
        Series the scan needs, and those simulated now (the rest were cached).
    """

    data: np.ndarray
    probe: np.ndarray
    thickness_nm: np.ndarray
    tilt_mrad: np.ndarray
    assigned_thickness_nm: np.ndarray
    assigned_tilt_mrad: np.ndarray
    states_mrad: np.ndarray
    thicknesses_nm: np.ndarray
    n_unique: int
    n_simulated: int


def simulate_series(probe: ProbeSpec, tilt_mrad, thicknesses_nm, *, energy_kv: float, pattern_size: int,
                    setting=None):
    """One multislice run: h-BN [001] with one probe and tilt, every thickness.

    Returns
    -------
    patterns : ndarray of shape (n, N, N), float32
        In units of the vacuum probe's maximum.
    vacuum : ndarray of shape (N, N), float32
    realised_nm : ndarray of shape (n,)
        Thicknesses realised by whole slices [nm].
    """
    from fcunet_lib import simulate

    patterns, vacuum, metadata = simulate.simulate_cbed_series(
        hbn_crystal(), energy_kv=energy_kv, semiangle_mrad=probe.semiangle_mrad,
        thicknesses_nm=thicknesses_nm, tilt_mrad=tuple(tilt_mrad), aperture=probe.aperture,
        pattern_size=pattern_size, setting=setting or simulate.DEFAULT_SETTING, return_metadata=True)
    return patterns, vacuum, np.asarray(metadata["thicknesses_nm"])


def simulate_scan(stand_in: StandIn, probe: ProbeSpec, *, pattern_size: int, cache_dir=None, setting=None,
                  simulator: Callable | None = None) -> HBNScan:
    """The stand-in scan of one probe: few simulations, nearest columns, shot noise.

    Parameters
    ----------
    stand_in : StandIn
    probe : ProbeSpec or str
        One of :data:`PROBES`, or its name.
    pattern_size : int
        N [pixels] at 1/46.08 Å⁻¹ (the model's input size).
    cache_dir : path, optional
        Folder of the on-disk cache (atomic ``.npz`` per series, named by a
        hash of what makes it); a rerun then simulates nothing.
    setting : SimulationSetting, optional
        Default: the library's.
    simulator : callable, optional
        ``simulator(probe, tilt_mrad, thicknesses_nm) -> (patterns, vacuum,
        realised_nm)``; default :func:`simulate_series` (tests pass a cheap one).

    Returns
    -------
    HBNScan
    """
    from fcunet_lib import simulate
    from fcunet_lib.materials import LATTICE_CONSTANTS
    from fcunet_lib.progress import progress

    probe = probe if isinstance(probe, ProbeSpec) else probe_spec(probe)
    setting = setting or simulate.DEFAULT_SETTING
    if simulator is None:
        def simulator(spec, tilt, thicknesses):
            return simulate_series(spec, tilt, thicknesses, energy_kv=stand_in.energy_kv,
                                   pattern_size=pattern_size, setting=setting)
    thickness, tilt = thickness_map(stand_in), tilt_map(stand_in)
    states = tilt_states(tilt, stand_in.n_tilt_states)
    requested = requested_thicknesses(stand_in)
    conditions = {"crystal": {"h-BN": LATTICE_CONSTANTS["h-BN"], "zone_axis": [0, 0, 1]},
                  "probe": probe.to_dict(), "thicknesses_nm": requested.tolist(),
                  "energy_kv": stand_in.energy_kv, "pattern_size": int(pattern_size),
                  "setting": setting.to_dict(), "version": _CACHE_VERSION}
    folder = Path(cache_dir) if cache_dir is not None else None
    series, simulated = [], 0
    for state in progress(states, total=len(states), desc=f"h-BN {probe.label}", unit="series"):
        key = npz_cache.cache_key({"tilt_mrad": [float(v) for v in state], **conditions})
        path = folder / f"{key}.npz" if folder is not None else None
        found = npz_cache.load_arrays(path, ("patterns", "vacuum", "thicknesses_nm"))
        if found is None:
            found = tuple(np.asarray(a) for a in simulator(probe, tuple(state), requested))
            simulated += 1
            if path is not None:
                npz_cache.save_arrays(path, patterns=np.asarray(found[0], np.float32),
                                      vacuum=np.asarray(found[1], np.float32),
                                      thicknesses_nm=np.asarray(found[2], float))
        series.append(found)
    realised = series[0][2]
    if any(not np.allclose(s[2], realised) for s in series):
        raise RuntimeError("the simulated series realised different thicknesses; expected one slicing")
    state_index, thickness_index = assign_columns(thickness, tilt, realised, states)
    stack = np.stack([s[0] for s in series])  # (k, n, N, N)
    rng = np.random.default_rng([stand_in.seed, zlib.crc32(probe.name.encode())])
    data = np.empty(stand_in.scan_shape + stack.shape[-2:], np.float32)
    for rx in range(stand_in.scan_shape[0]):  # row by row: one row of float64 at a time, same draws
        data[rx] = dose_counts(stack[state_index[rx], thickness_index[rx]], stand_in.dose, rng)
    vacuum = series[0][1].astype(np.float64)
    return HBNScan(
        data=data,
        probe=(vacuum / vacuum.sum() * stand_in.dose).astype(np.float32),
        thickness_nm=thickness, tilt_mrad=tilt,
        assigned_thickness_nm=realised[thickness_index], assigned_tilt_mrad=states[state_index],
        states_mrad=states, thicknesses_nm=realised, n_unique=len(states), n_simulated=simulated)


