"""The Fig. 5 stand-in: a thick, bent Si / Si₀.₈₂Ge₀.₁₈ multilayer, column approximation.

The paper's Fig. 5 is experimental (Methods, "Si-Si/Ge multilayers"): a
MAG*I*CAL cross-section seen along [110], five ≈ 10 nm epitaxial Si₀.₈₂Ge₀.₁₈
layers in Si, 300 kV, 1.3 mrad, 10 Å steps, 200 × 50 probe positions; about
110 nm thick (one inelastic mean free path) with ≈ 20 % thickness variation,
and bent ("the center-of-mass of the diffraction pattern intensities changes
over the field of view"). Those files are not reachable from here, so the
notebook simulates a stand-in built to match these conditions, and reads the
real files instead when a user has them (:func:`load_measured`).

The stand-in (:class:`SiGeStack`, laid on a scan by :func:`lay_out`)
--------------------------------------------------------------------
* Field of view 200 nm along the layer normal x × 50 nm along the interfaces
  y. Five 10 nm layers with left edges at 20, 50, …, 140 nm (period 30 nm),
  pure Si elsewhere; the rightmost 20 % (x ≥ 160 nm, pure Si substrate) is the
  strain reference, as in the paper.
* Composition: x_Ge = 0.18 in the layers with erf interfaces 1 nm wide,
  quantised to a few equally spaced levels in [0, 0.18].
* Lattice, coherently strained on Si: in plane ``a = a_Si``; along the normal
  ``a_x = a_Si (1 + ε₆)`` with ε₆ the paper's eq. 6 (:func:`eq6_strain`),
  Vegard's law with ``a_Si = 5.431 Å``, ``a_Ge = 5.658 Å`` and ν = 0.275.
  (The paper prints ``a_Si = 5.54 Å``, a typo: with it eq. 6 gives 0.60 %
  instead of 1.17 % for x = 0.18.)
* Thickness: a smooth seeded random field, mean 110 nm, range 20 % of the mean
  (99–121 nm peak to peak), quantised to a few levels; all levels come from
  one multislice run per column (exit planes).
* Bend: the local beam tilt grows linearly from 0.3 mrad at the substrate end
  to 2.5 mrad at the far end while its direction turns from 20° to 70°, with
  a small component along y; quantised to a few levels.
* Alloy: random (every unit cell draws its Si/Ge occupation from a seeded
  pool, :func:`fcunet_lib.multilayer.simulate_column` with ``alloy_seed``), so
  the layers scatter diffusely between the disks; the Si is perfect. No
  thermal diffuse scattering, no inelastic background (the experiment was
  energy filtered).
* Dose: Poisson counts for ``dose_e`` incident electrons per pattern,
  seeded (:func:`add_shot_noise`).

Column approximation (as Fig. 3, :mod:`fcunet_lib.multilayer`): every probe
position is an infinite bulk crystal with that position's lattice,
composition, thickness and tilt, so a probe never sees an interface and
positions in the same state share a simulation; distinct simulations are
the distinct (composition, tilt) pairs of the scan.

Axes: the column crystal has x ∥ [100] and the beam along [011]; by cubic
symmetry that is the paper's layer normal [001] with the beam along [110].
The scan is ``[rx, ry]``, rx along x from the far side (left) to the
substrate (right); real-space x, y are the patterns' qx, qy, so py4DSTEM's
ε_xx is the strain along the layer normal.

Strain convention (py4DSTEM's, :mod:`fcunet_lib.strain`): a lattice
``a_Si (1 + ε₆)`` reads ``e_xx = 1 − 1/(1 + ε₆)`` against Si (1.153 % for
ε₆ = 1.166 %); :func:`expected_strain` returns that, with no other scaling.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import erf

from fcunet_lib import checks, multilayer, npz_cache
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE, get_scale
from fcunet_lib.materials import LATTICE_CONSTANTS

__all__ = [
    "A_SI",
    "A_GE",
    "POISSON_RATIO",
    "PAPER_A_SI_TYPO",
    "PAPER_A_GE",
    "PAPER_RMS",
    "SCALE_SETUPS",
    "SiGeStack",
    "Levels",
    "Layout",
    "SiGeData",
    "fig5_setup",
    "eq6_strain",
    "expected_strain",
    "layer_edges_nm",
    "composition_profile",
    "thickness_field",
    "thickness_range_nm",
    "bend_field",
    "lay_out",
    "simulate_stand_in",
    "add_shot_noise",
    "load_measured",
    "si_basis_px",
    "reference_mask",
    "example_positions",
    "measure_strain",
]

#: Cubic lattice constants [Å] (Vegard's end members).
A_SI = LATTICE_CONSTANTS["Si"]["a"]
A_GE = LATTICE_CONSTANTS["Ge"]["a"]
#: Poisson's ratio of Si and Ge along (001), the paper's value.
POISSON_RATIO = 0.275
#: The a_Si the paper prints next to eq. 6 [Å]: a typo for 5.431 Å.
PAPER_A_SI_TYPO = 5.54
#: The a_Ge the paper prints next to eq. 6 [Å].
PAPER_A_GE = 5.66
#: RMS strain errors the paper reads from its experiment [percent].
PAPER_RMS = {"exx_rms": {"correlation": 0.72, "fcunet": 0.25},
             "eyy_rms": {"correlation": 0.3, "fcunet": 0.15}}
#: Bump when the simulation recipe changes: old cache files are then ignored.
_CACHE_VERSION = 1
#: Stream of the seed that draws the shot noise (the alloy uses the seed itself).
_NOISE_STREAM = 5


# --------------------------------------------------------------------------- #
# The sample and its quantisation (pure)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class SiGeStack:
    """Geometry, materials and imaging conditions of the Fig. 5 stand-in.

    Attributes
    ----------
    n_layers : int
        Si₁₋ₓGeₓ layers.
    layer_nm, period_nm, first_layer_nm : float
        Layer thickness, layer period and left edge of the first layer [nm].
    x_ge : float
        Ge fraction of the layers.
    interface_nm : float
        Width of the erf composition steps [nm].
    field_nm : (float, float)
        Field of view along x (layer normal) and y [nm].
    reference_fraction : float
        Rightmost fraction of the scan along x taken as the Si reference.
    energy_kv, semiangle_mrad : float
        Beam energy [kV] and probe semiangle [mrad].
    thickness_nm : float
        Mean specimen thickness [nm].
    thickness_spread : float
        Peak-to-peak thickness range as a fraction of the mean.
    thickness_correlation_nm : float
        Shortest wavelength of the thickness field [nm].
    tilt_mrad : (float, float)
        Beam tilt magnitude at the substrate end and at the far end [mrad].
    tilt_azimuth_deg : (float, float)
        Tilt direction there [degrees from +x towards +y].
    tilt_y_share : float
        Share of the bend that runs along y (0: tilt changes along x only).
    poisson_ratio : float
        ν of eq. 6.
    dose_e : float
        Incident electrons per pattern.
    """

    n_layers: int = 5
    layer_nm: float = 10.0
    period_nm: float = 30.0
    first_layer_nm: float = 20.0
    x_ge: float = 0.18
    interface_nm: float = 1.0
    field_nm: tuple[float, float] = (200.0, 50.0)
    reference_fraction: float = 0.2
    energy_kv: float = 300.0
    semiangle_mrad: float = 1.3
    thickness_nm: float = 110.0
    thickness_spread: float = 0.2
    thickness_correlation_nm: float = 60.0
    tilt_mrad: tuple[float, float] = (0.3, 2.5)
    tilt_azimuth_deg: tuple[float, float] = (20.0, 70.0)
    tilt_y_share: float = 0.15
    poisson_ratio: float = POISSON_RATIO
    dose_e: float = 2e5

    def __post_init__(self):
        checks.positive_integer("n_layers", self.n_layers)
        for name, unit in (("layer_nm", "nm"), ("period_nm", "nm"), ("interface_nm", "nm"), ("energy_kv", "kV"),
                           ("semiangle_mrad", "mrad"), ("thickness_nm", "nm"), ("thickness_correlation_nm", "nm"),
                           ("dose_e", "electrons per pattern")):
            checks.positive_number(name, getattr(self, name), unit)
        if len(self.field_nm) != 2:
            raise ValueError(f"field_nm must be (x, y) [nm]; got {self.field_nm!r}")
        for value in self.field_nm:
            checks.positive_number("field_nm", value, "nm")
        if not 0.0 < self.x_ge <= 1.0:
            raise ValueError(f"x_ge must lie in (0, 1]; got {self.x_ge!r}")
        if self.layer_nm >= self.period_nm:
            raise ValueError(f"layer_nm ({self.layer_nm}) must be smaller than period_nm ({self.period_nm})")
        for name in ("reference_fraction", "thickness_spread", "tilt_y_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1); got {getattr(self, name)!r}")
        last_edge = self.first_layer_nm + (self.n_layers - 1) * self.period_nm + self.layer_nm
        reference_start = (1.0 - self.reference_fraction) * self.field_nm[0]
        if self.first_layer_nm < 0 or last_edge > reference_start:
            raise ValueError(f"the layers ({self.first_layer_nm:g}–{last_edge:g} nm) must lie inside the field, "
                             f"left of the reference region (x ≥ {reference_start:g} nm)")
        if len(self.tilt_mrad) != 2 or min(self.tilt_mrad) < 0:
            raise ValueError(f"tilt_mrad must be two non-negative magnitudes [mrad]; got {self.tilt_mrad!r}")
        if not 0.0 <= self.poisson_ratio < 0.5:
            raise ValueError(f"poisson_ratio must lie in [0, 0.5); got {self.poisson_ratio!r}")

    def to_dict(self) -> dict:
        """Plain JSON data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Levels:
    """How finely the stand-in's fields are quantised (sets the simulation count).

    Attributes
    ----------
    composition : int
        Ge fractions ``0, x/(n−1), …, x`` (at least 2: Si and the layers).
    thickness : int
        Thicknesses across the field's range (free: exit planes of one run).
    tilt : int
        Tilts along the bend.
    """

    composition: int = 4
    thickness: int = 9
    tilt: int = 6

    def __post_init__(self):
        for name, least in (("composition", 2), ("thickness", 1), ("tilt", 1)):
            value = getattr(self, name)
            if not checks.is_integer(value) or value < least:
                raise ValueError(f"levels.{name} must be an integer >= {least}; got {value!r}")


#: Scan and quantisation of each scale. The paper's scan is 200 × 50; the
#: default keeps all 200 positions across the layers and 10 along them so
#: that the two finders take minutes, not most of an hour, on 2 cores.
SCALE_SETUPS = {
    "smoke": ((20, 4), Levels(composition=2, thickness=3, tilt=2)),
    "default": ((200, 10), Levels(composition=4, thickness=9, tilt=6)),
    "full": ((200, 50), Levels(composition=4, thickness=11, tilt=8)),
    "paper": ((200, 50), Levels(composition=7, thickness=11, tilt=10)),
}


def fig5_setup(scale) -> tuple[tuple[int, int], Levels]:
    """Scan shape ``(n_x, n_y)`` and :class:`Levels` of a scale."""
    return SCALE_SETUPS[get_scale(scale).name]


def eq6_strain(x_ge, *, poisson_ratio: float = POISSON_RATIO, a_si: float = A_SI, a_ge: float = A_GE):
    """The paper's eq. 6: lattice strain along the normal of a layer coherent on Si.

    ``ε = (a_Ge / a_Si − 1) · x_Ge · (1 + 2ν)``: Vegard's misfit, plus the
    Poisson expansion from the in-plane compression in two directions.

    Parameters
    ----------
    x_ge : float or ndarray
        Ge fraction ``1 − x_Si``, in [0, 1].
    poisson_ratio : float
        ν, in [0, 0.5).
    a_si, a_ge : float
        Cubic lattice constants [Å].

    Returns
    -------
    float or ndarray
        ``a_x / a_Si − 1`` [fraction].
    """
    x = np.asarray(x_ge, dtype=float)
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError(f"x_ge must lie in [0, 1]; got values from {np.nanmin(x)} to {np.nanmax(x)}")
    if not 0.0 <= poisson_ratio < 0.5:
        raise ValueError(f"poisson_ratio must lie in [0, 0.5); got {poisson_ratio!r}")
    checks.positive_number("a_si", a_si, "Å")
    checks.positive_number("a_ge", a_ge, "Å")
    strain = (a_ge / a_si - 1.0) * x * (1.0 + 2.0 * poisson_ratio)
    return float(strain) if strain.ndim == 0 else strain


def expected_strain(x_ge, *, poisson_ratio: float = POISSON_RATIO):
    """What an ideal measurement against Si reads (py4DSTEM's convention).

    Returns
    -------
    e_xx, e_yy : ndarray shaped like ``x_ge``
        ``e_xx = 1 − 1/(1 + ε₆)`` [fraction]; ``e_yy = 0`` (coherent layers).
    """
    lattice = np.asarray(eq6_strain(x_ge, poisson_ratio=poisson_ratio))
    return 1.0 - 1.0 / (1.0 + lattice), np.zeros_like(lattice)


def layer_edges_nm(stack: SiGeStack) -> np.ndarray:
    """Left and right edge of every layer [nm], shape (n_layers, 2), left to right."""
    left = stack.first_layer_nm + stack.period_nm * np.arange(stack.n_layers)
    return np.stack([left, left + stack.layer_nm], axis=1)


def composition_profile(stack: SiGeStack, x_nm) -> np.ndarray:
    """Ge fraction along x before quantisation: erf steps at every interface."""
    x = np.asarray(x_nm, dtype=float)[..., None]
    edges = layer_edges_nm(stack)
    steps = 0.5 * (erf((x - edges[:, 0]) / stack.interface_nm) - erf((x - edges[:, 1]) / stack.interface_nm))
    return stack.x_ge * np.clip(steps.sum(axis=-1), 0.0, 1.0)


def thickness_field(stack: SiGeStack, x_nm, y_nm, *, seed: int) -> np.ndarray:
    """Smooth random thickness [nm] at the positions ``x_nm × y_nm``, shape (n_x, n_y).

    Eight seeded plane waves with wavelengths between 1 and 4 × the
    correlation length, scaled so that over the whole field of view (sampled
    every nm) the mean is ``thickness_nm`` and the range
    ``thickness_spread × thickness_nm``: the same sample at any scan sampling.
    """
    waves = _thickness_waves(stack, checks.seed(seed))
    fine = waves(*_fine_grid(stack))
    relative = (waves(x_nm, y_nm) - fine.mean()) / (fine.max() - fine.min())
    return stack.thickness_nm * (1.0 + stack.thickness_spread * relative)


def thickness_range_nm(stack: SiGeStack, *, seed: int) -> tuple[float, float]:
    """Thinnest and thickest point of :func:`thickness_field` over the field of view [nm]."""
    fine = thickness_field(stack, *_fine_grid(stack), seed=seed)
    return float(fine.min()), float(fine.max())


def _fine_grid(stack: SiGeStack):
    """Every nm of the field of view, edges included."""
    return np.arange(0.0, stack.field_nm[0] + 0.5), np.arange(0.0, stack.field_nm[1] + 0.5)


def _thickness_waves(stack: SiGeStack, seed: int):
    """``waves(x_nm, y_nm)``: the unscaled sum of the seeded plane waves on a grid."""
    rng = np.random.default_rng(seed)
    wavelength = stack.thickness_correlation_nm * rng.uniform(1.0, 4.0, 8)
    direction = rng.uniform(0.0, 2.0 * math.pi, 8)
    phase = rng.uniform(0.0, 2.0 * math.pi, 8)
    k = np.stack([np.cos(direction), np.sin(direction)], axis=1) / wavelength[:, None]

    def waves(x_nm, y_nm):
        x, y = np.meshgrid(np.asarray(x_nm, float), np.asarray(y_nm, float), indexing="ij")
        return np.cos(2 * math.pi * (x[..., None] * k[:, 0] + y[..., None] * k[:, 1]) + phase).sum(axis=-1)

    return waves


def bend_field(stack: SiGeStack, x_nm, y_nm) -> np.ndarray:
    """Position along the bend in [0, 1]: 0 at the substrate end, 1 at the far end, shape (n_x, n_y)."""
    x, y = np.meshgrid(np.asarray(x_nm, float), np.asarray(y_nm, float), indexing="ij")
    along_x = 1.0 - np.clip(x / stack.field_nm[0], 0.0, 1.0)
    along_y = np.clip(y / stack.field_nm[1], 0.0, 1.0)
    return (1.0 - stack.tilt_y_share) * along_x + stack.tilt_y_share * along_y


def _tilt_at(stack: SiGeStack, bend) -> np.ndarray:
    """Beam tilt (tx, ty) [mrad] at bend positions; shape bend.shape + (2,)."""
    bend = np.asarray(bend, float)
    magnitude = stack.tilt_mrad[0] + (stack.tilt_mrad[1] - stack.tilt_mrad[0]) * bend
    azimuth = np.radians(stack.tilt_azimuth_deg[0] + (stack.tilt_azimuth_deg[1] - stack.tilt_azimuth_deg[0]) * bend)
    return np.stack([magnitude * np.cos(azimuth), magnitude * np.sin(azimuth)], axis=-1)


@dataclass(frozen=True)
class Layout:
    """The stand-in laid on a scan: what sits at every position ``[rx, ry]``.

    Attributes
    ----------
    stack : SiGeStack
    levels : Levels
    seed : int
        Seed of the thickness field, the alloy and the shot noise.
    x_nm, y_nm : ndarray of shape (n_x,), (n_y,)
        Position centres [nm].
    x_ge : ndarray (n_x, n_y)
        Ge fraction (quantised: what is simulated).
    thickness_index : ndarray of int (n_x, n_y)
        Index into ``thickness_levels_nm``.
    thickness_levels_nm : ndarray (n_thickness,)
        Thickness levels requested [nm] (the simulation realises whole slices).
    tilt_index : ndarray of int (n_x, n_y)
        Index into ``tilt_levels_mrad``.
    tilt_levels_mrad : ndarray (n_tilt, 2)
        Beam tilt (tx, ty) of each level [mrad].
    """

    stack: SiGeStack
    levels: Levels
    seed: int
    x_nm: np.ndarray
    y_nm: np.ndarray
    x_ge: np.ndarray
    thickness_index: np.ndarray
    thickness_levels_nm: np.ndarray
    tilt_index: np.ndarray
    tilt_levels_mrad: np.ndarray

    @property
    def scan_shape(self) -> tuple[int, int]:
        return len(self.x_nm), len(self.y_nm)

    @property
    def step_nm(self) -> tuple[float, float]:
        """Probe step along x and y [nm]."""
        return self.stack.field_nm[0] / len(self.x_nm), self.stack.field_nm[1] / len(self.y_nm)

    @property
    def thickness_nm(self) -> np.ndarray:
        """Thickness at every position [nm] (requested level)."""
        return self.thickness_levels_nm[self.thickness_index]

    @property
    def tilt_mrad(self) -> np.ndarray:
        """Beam tilt at every position [mrad], shape (n_x, n_y, 2)."""
        return self.tilt_levels_mrad[self.tilt_index]

    @property
    def a_x_A(self) -> np.ndarray:
        """Lattice parameter along the layer normal [Å]; in plane it is ``A_SI`` everywhere."""
        return A_SI * (1.0 + eq6_strain(self.x_ge, poisson_ratio=self.stack.poisson_ratio))

    @property
    def reference(self) -> np.ndarray:
        """The strain reference: the rightmost ``reference_fraction`` of the scan."""
        return reference_mask(self.scan_shape, self.stack.reference_fraction)

    def specs(self) -> np.ndarray:
        """The :class:`~fcunet_lib.multilayer.ColumnSpec` of every position, object array (n_x, n_y)."""
        specs = np.empty(self.scan_shape, dtype=object)
        for index in np.ndindex(self.scan_shape):
            specs[index] = multilayer.ColumnSpec.rounded(self.a_x_A[index], A_SI, self.x_ge[index],
                                                         self.tilt_mrad[index])
        return specs


def lay_out(stack: SiGeStack, scan_shape, *, levels: Levels = Levels(), seed: int = 0) -> Layout:
    """Lay the stand-in on an ``(n_x, n_y)`` scan over its field of view, quantised.

    Composition: nearest of ``levels.composition`` equal steps in [0, x_Ge].
    Thickness: nearest of ``levels.thickness`` equal steps over the field's
    range. Tilt: the bend position cut into ``levels.tilt`` equal bins, each
    at its bin centre.
    """
    n_x, n_y = _check_scan_shape(scan_shape)
    if not isinstance(levels, Levels):
        raise ValueError(f"levels must be a Levels; got {type(levels).__name__}")
    seed = checks.seed(seed)
    x_nm = (np.arange(n_x) + 0.5) * stack.field_nm[0] / n_x
    y_nm = (np.arange(n_y) + 0.5) * stack.field_nm[1] / n_y
    steps = levels.composition - 1
    x_ge = stack.x_ge * (np.round(composition_profile(stack, x_nm) / stack.x_ge * steps) / steps)
    x_ge = np.repeat(x_ge[:, None], n_y, axis=1)
    if levels.thickness > 1:
        thickness_levels = np.linspace(*thickness_range_nm(stack, seed=seed), levels.thickness)
    else:
        thickness_levels = np.array([stack.thickness_nm])
    thickness = thickness_field(stack, x_nm, y_nm, seed=seed)
    thickness_index = np.abs(thickness[..., None] - thickness_levels).argmin(axis=-1)
    bins = np.minimum((bend_field(stack, x_nm, y_nm) * levels.tilt).astype(int), levels.tilt - 1)
    tilt_levels = _tilt_at(stack, (np.arange(levels.tilt) + 0.5) / levels.tilt)
    return Layout(stack=stack, levels=levels, seed=seed, x_nm=x_nm, y_nm=y_nm, x_ge=x_ge,
                  thickness_index=thickness_index, thickness_levels_nm=thickness_levels,
                  tilt_index=bins, tilt_levels_mrad=tilt_levels)


# --------------------------------------------------------------------------- #
# The dataset: simulated stand-in or the user's files
# --------------------------------------------------------------------------- #
@dataclass
class SiGeData:
    """Patterns and what is known about them, simulated or measured.

    Attributes
    ----------
    data : ndarray or DataCube, (Rx, Ry, Qx, Qy)
        Patterns [counts].
    probe : ndarray (Qx, Qy)
        Vacuum probe [counts].
    pixel_size : float
        Reciprocal pixel [1/Å].
    x_nm, y_nm : ndarray
        Position centres [nm].
    reference : ndarray of bool (Rx, Ry)
        The strain reference (pure Si).
    x_ge : ndarray (Rx, Ry) or None
        Ge fraction (the stand-in's, or the user's EELS map), None if unknown.
    thickness_nm, tilt_mrad : ndarray or None
        The stand-in's thickness [nm] (realised) and beam tilt [mrad].
    source : str
        ``"simulated stand-in"`` or the data file.
    origin : str
        ``"center"`` (simulated: exact) or ``"measure"``.
    n_simulations, n_simulated : int
        Distinct simulations, and how many ran now (the rest came from the cache).
    """

    data: object
    probe: np.ndarray
    pixel_size: float
    x_nm: np.ndarray
    y_nm: np.ndarray
    reference: np.ndarray
    x_ge: np.ndarray | None
    thickness_nm: np.ndarray | None = None
    tilt_mrad: np.ndarray | None = None
    source: str = "simulated stand-in"
    origin: str = "center"
    n_simulations: int = 0
    n_simulated: int = 0

    @property
    def patterns(self) -> np.ndarray:
        """The patterns as an array (a DataCube's ``data``)."""
        return np.asarray(getattr(self.data, "data", self.data))


def simulate_stand_in(layout: Layout, *, pattern_size: int, cache_dir=None, setting=None,
                      simulator: Callable | None = None) -> SiGeData:
    """Simulate the stand-in: one multislice run per distinct (composition, tilt), then shot noise.

    Each run gives every thickness level (exit planes); positions take the
    pattern of their level. With ``cache_dir`` each run is stored there
    (atomic ``.npz`` named by a hash of everything that makes it), so a rerun
    simulates nothing.

    Parameters
    ----------
    layout : Layout
    pattern_size : int
        N [pixels] at 1/46.08 Å⁻¹.
    cache_dir : path, optional
    setting : SimulationSetting, optional
    simulator : callable, optional
        ``simulator(spec, thicknesses_nm) -> (patterns [n_t, N, N], probe)``;
        default :func:`fcunet_lib.multilayer.simulate_column` with the random
        alloy seeded by ``layout.seed`` (tests pass a cheap stand-in).

    Returns
    -------
    SiGeData
    """
    from fcunet_lib import simulate
    from fcunet_lib.progress import progress

    stack = layout.stack
    setting = simulate.DEFAULT_SETTING if setting is None else setting
    levels_nm = [float(t) for t in layout.thickness_levels_nm]
    conditions = {"energy_kv": stack.energy_kv, "semiangle_mrad": stack.semiangle_mrad,
                  "thicknesses_nm": levels_nm, "pattern_size": int(pattern_size), "alloy_seed": layout.seed,
                  "setting": setting.to_dict(), "version": _CACHE_VERSION}
    if simulator is None:
        def simulator(spec, thicknesses):
            return multilayer.simulate_column(spec, energy_kv=stack.energy_kv, semiangle_mrad=stack.semiangle_mrad,
                                              thickness_nm=thicknesses, pattern_size=pattern_size,
                                              setting=setting, alloy_seed=layout.seed)
    specs = layout.specs()
    unique = list(dict.fromkeys(specs.ravel()))
    folder = Path(cache_dir) if cache_dir is not None else None
    runs, simulated = {}, 0
    for spec in progress(unique, total=len(unique), desc="SiGe columns", unit="sim"):
        path = folder / f"{multilayer.column_cache_key(spec, conditions, version=None)}.npz" if folder else None
        stored = npz_cache.load_arrays(path, ("patterns", "probe"))
        if stored is not None and stored[0].shape != (len(levels_nm), pattern_size, pattern_size):
            stored = None  # another thickness plan under the same key: simulate again
        if stored is None:
            patterns, probe = (np.asarray(a, np.float32) for a in simulator(spec, levels_nm))
            if patterns.shape != (len(levels_nm), pattern_size, pattern_size):
                raise ValueError(f"simulator returned patterns of shape {patterns.shape}; expected "
                                 f"{(len(levels_nm), pattern_size, pattern_size)}")
            simulated += 1
            if path is not None:
                npz_cache.save_arrays(path, patterns=patterns, probe=probe)
            stored = (patterns, probe)
        runs[spec] = stored
    clean = np.empty(layout.scan_shape + (pattern_size, pattern_size), np.float32)
    for index in np.ndindex(layout.scan_shape):
        clean[index] = runs[specs[index]][0][layout.thickness_index[index]]
    probe = runs[specs[-1, -1]][1]  # the substrate end: the smallest tilt
    counts, probe_counts = add_shot_noise(clean, probe, dose_e=stack.dose_e, seed=layout.seed)
    realised = np.asarray(simulate.exit_thicknesses_nm(multilayer.column_crystal(A_SI, A_SI), levels_nm,
                                                       setting=setting))
    return SiGeData(data=counts, probe=probe_counts, pixel_size=RECIPROCAL_PIXEL_SIZE, x_nm=layout.x_nm,
                    y_nm=layout.y_nm, reference=layout.reference, x_ge=layout.x_ge,
                    thickness_nm=realised[layout.thickness_index], tilt_mrad=layout.tilt_mrad,
                    n_simulations=len(unique), n_simulated=simulated)


def add_shot_noise(data, probe, *, dose_e: float, seed: int):
    """Poisson counts for ``dose_e`` incident electrons per pattern (seeded).

    Patterns in units of the vacuum probe are scaled by ``dose_e / probe.sum()``
    (so a vacuum pattern would hold ``dose_e`` electrons) and replaced by
    Poisson draws, one scan row at a time. The probe is scaled alike and left
    noise-free (the average of many vacuum frames).

    Returns
    -------
    counts : ndarray float32, data's shape
    probe : ndarray float32 [counts]
    """
    data = np.asarray(data)
    probe = np.asarray(probe, dtype=np.float64)
    checks.positive_number("dose_e", dose_e, "electrons per pattern")
    if data.ndim != 4 or data.shape[2:] != probe.shape:
        raise ValueError(f"data must be [Rx, Ry, N, N] with the probe's shape; got {data.shape}, {probe.shape}")
    if not (np.all(np.isfinite(data)) and data.min() >= 0):
        raise ValueError("data must hold finite, non-negative intensities")
    if not probe.sum() > 0:
        raise ValueError("probe must have a positive sum (a vacuum probe image)")
    rng = np.random.default_rng([checks.seed(seed), _NOISE_STREAM])
    scale = float(dose_e) / probe.sum()
    counts = np.empty(data.shape, np.float32)
    for row in range(data.shape[0]):
        counts[row] = rng.poisson(data[row].astype(np.float64) * scale)
    return counts, (probe * scale).astype(np.float32)


def load_measured(data_path, probe_path, *, calibration, step_nm: float = 1.0,
                  reference_fraction: float = 0.2, composition_path=None) -> SiGeData:
    """The user's multilayer scan, read through :mod:`fcunet_lib.userdata`.

    Parameters
    ----------
    data_path, probe_path : path
        The 4D scan (rx along the layer normal, substrate at high rx) and its
        vacuum probe, any format of :func:`fcunet_lib.userdata.load_datacube`.
    calibration : fcunet_lib.userdata.Calibration
        Reciprocal pixel size [1/Å], energy [kV], semiangle [mrad].
    step_nm : float
        Probe step [nm] (the paper's 1 nm).
    reference_fraction : float
        Rightmost fraction of rx taken as the Si reference.
    composition_path : path, optional
        Ge fraction per position (e.g. from EELS): ``.npy`` of shape (Rx, Ry)
        or (Rx,); without it there is no expected ε_xx.

    Returns
    -------
    SiGeData
    """
    from fcunet_lib import userdata

    if not isinstance(calibration, userdata.Calibration):
        raise ValueError(f"calibration must be a fcunet_lib.userdata.Calibration; got {type(calibration).__name__}")
    if probe_path is None:
        raise ValueError("probe_path is required with data_path: a vacuum probe recorded with the scan")
    checks.positive_number("step_nm", step_nm, "nm")
    data = userdata.load_datacube(data_path)
    shape = np.shape(getattr(data, "data", data))
    probe = userdata.load_probe(probe_path, pattern_shape=shape[2:])
    x_ge = None
    if composition_path is not None:
        x_ge = _load_composition(composition_path, shape[:2])
    return SiGeData(data=data, probe=probe, pixel_size=calibration.pixel_size,
                    x_nm=(np.arange(shape[0]) + 0.5) * step_nm, y_nm=(np.arange(shape[1]) + 0.5) * step_nm,
                    reference=reference_mask(shape[:2], reference_fraction), x_ge=x_ge,
                    source=str(data_path), origin="measure")


def _load_composition(path, scan_shape) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"could not read {path} as a NumPy .npy file of Ge fractions: {error}") from error
    values = np.asarray(values, dtype=float)
    if values.shape == scan_shape[:1]:
        values = np.repeat(values[:, None], scan_shape[1], axis=1)
    if values.shape != tuple(scan_shape):
        raise ValueError(f"{path}: Ge fractions of shape {values.shape}; expected the scan's {tuple(scan_shape)} "
                         f"or ({scan_shape[0]},)")
    if not np.all(np.isfinite(values) & (values >= 0) & (values <= 1)):
        raise ValueError(f"{path}: Ge fractions must be finite and lie in [0, 1]")
    return values


# --------------------------------------------------------------------------- #
# Reading the scan
# --------------------------------------------------------------------------- #
def si_basis_px(pixel_size: float = RECIPROCAL_PIXEL_SIZE, *, rotation_deg: float = 0.0):
    """Si's (1 1 1̄) and (1 1̄ 1) reflections in the [011] pattern [pixels, (qx, qy)].

    ``(1/a, ±√2/a)`` with the layer normal [100] along qx, turned
    counter-clockwise (from qx towards qy) by ``rotation_deg`` when the
    normal lies at that angle on the detector; pass the same angle as
    ``coordinate_rotation`` to :func:`measure_strain` so that ε_xx stays
    the strain along the normal.
    """
    checks.reciprocal_pixel_size("pixel_size", pixel_size)
    angle = math.radians(float(rotation_deg))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    g1 = np.array([1.0 / A_SI, math.sqrt(2.0) / A_SI]) / pixel_size
    return turn @ g1, turn @ (g1 * np.array([1.0, -1.0]))


def reference_mask(scan_shape, fraction: float) -> np.ndarray:
    """Boolean ``[rx, ry]`` mask of the rightmost ``fraction`` of rx (at least one column)."""
    n_x, n_y = _check_scan_shape(scan_shape)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"reference_fraction must lie in (0, 1); got {fraction!r}")
    columns = max(1, round(fraction * n_x))
    mask = np.zeros((n_x, n_y), dtype=bool)
    mask[n_x - columns:] = True
    return mask


def example_positions(x_nm, y_nm, count: int = 5, *, stack: SiGeStack | None = None) -> list[tuple[int, int]]:
    """Up to ``count`` positions ``(rx, ry)`` spread across the layers, at the middle ry.

    With ``stack``: ``count`` of the region centres (Si cap, layers, Si
    spacers, substrate), evenly spaced in that list from the first layer to
    the substrate; without: evenly spaced over rx. Positions that coincide on
    a coarse scan are shown once.
    """
    count = checks.positive_integer("count", count)
    x_nm = np.asarray(x_nm, float)
    if stack is None:
        rows = dict.fromkeys(int(i) for i in np.round(np.linspace(0, len(x_nm) - 1, count)))
        return [(rx, len(y_nm) // 2) for rx in rows]
    edges = layer_edges_nm(stack)
    centres = [edges[0, 0] / 2]
    for i, (left, right) in enumerate(edges):
        centres.append((left + right) / 2)
        if i + 1 < len(edges):
            centres.append((right + edges[i + 1, 0]) / 2)
    centres.append((edges[-1, 1] + stack.field_nm[0]) / 2)
    chosen = np.asarray(centres)[np.unique(np.round(np.linspace(1, len(centres) - 1, count)).astype(int))]
    rows = dict.fromkeys(int(np.abs(x_nm - c).argmin()) for c in chosen)
    return [(rx, len(y_nm) // 2) for rx in rows]


def measure_strain(bv, *, reference, expected_xx=None, g1=None, g2=None, origin="center",
                   coordinate_rotation: float = 0.0) -> dict:
    """Strain maps against the reference, and RMS errors against the expectation.

    Parameters
    ----------
    bv : py4DSTEM BraggVectors
    reference : ndarray of bool (Rx, Ry)
        The Si reference positions (median lattice).
    expected_xx : ndarray (Rx, Ry), optional
        Expected ε_xx [fraction] (:func:`expected_strain`); ε_yy is expected 0.
    g1, g2 : (float, float), optional
        Basis vectors [pixels]; default chosen automatically.
    origin, coordinate_rotation
        As :func:`fcunet_lib.strain.strain_map`.

    Returns
    -------
    dict
        ``e_xx``, ``e_yy`` (maps [percent], NaN where the fit failed),
        ``profile_xx``, ``profile_yy`` (means over ry [percent]),
        ``exx_rms``, ``eyy_rms`` (RMS error [percent] over the fitted positions
        outside the reference; ``exx_rms`` None without an expectation),
        ``exx_mean``, ``exx_std`` (mean and spread of the ε_xx error there),
        ``n_fitted`` and ``n_positions`` (fitted / all positions outside the
        reference), ``error`` (None, or why the map could not be made).
    """
    from fcunet_lib.strain import strain_map

    reference = np.asarray(reference)
    shape = reference.shape
    if reference.dtype != bool or reference.ndim != 2:
        raise ValueError(f"reference must be a 2D boolean mask [rx, ry]; got {reference.dtype} {reference.shape}")
    if expected_xx is not None and np.shape(expected_xx) != shape:
        raise ValueError(f"expected_xx must have the scan shape {shape}; got {np.shape(expected_xx)}")
    counted_region = ~reference
    outcome = {"e_xx": np.full(shape, np.nan), "e_yy": np.full(shape, np.nan),
               "profile_xx": np.full(shape[0], np.nan), "profile_yy": np.full(shape[0], np.nan),
               "exx_rms": None, "eyy_rms": None, "exx_mean": None, "exx_std": None, "n_fitted": 0,
               "n_positions": int(counted_region.sum()), "error": None}
    try:
        result = strain_map(bv, reference=reference, origin=origin, g1=g1, g2=g2,
                            coordinate_rotation=coordinate_rotation)
    except ValueError as error:
        outcome["error"] = str(error)
        return outcome
    fitted = result.mask
    outcome["e_xx"] = np.where(fitted, 100.0 * result.e_xx, np.nan)
    outcome["e_yy"] = np.where(fitted, 100.0 * result.e_yy, np.nan)
    with multilayer.quiet_empty_means():
        outcome["profile_xx"] = np.nanmean(outcome["e_xx"], axis=1)
        outcome["profile_yy"] = np.nanmean(outcome["e_yy"], axis=1)
    counted = fitted & counted_region
    outcome["n_fitted"] = int(counted.sum())
    if counted.any():
        outcome["eyy_rms"] = multilayer.rms_percent(result.e_yy[counted])
        if expected_xx is not None:
            error_xx = result.e_xx[counted] - np.asarray(expected_xx)[counted]
            outcome["exx_rms"] = multilayer.rms_percent(error_xx)
            outcome["exx_mean"] = float(100.0 * error_xx.mean())
            outcome["exx_std"] = float(100.0 * error_xx.std())
    outcome["strain"] = result
    return outcome


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def _check_scan_shape(scan_shape) -> tuple[int, int]:
    try:
        n_x, n_y = scan_shape
    except (TypeError, ValueError):
        raise ValueError(f"scan_shape must be (n_x, n_y); got {scan_shape!r}") from None
    for n in (n_x, n_y):
        if not checks.is_integer(n) or n < 1:
            raise ValueError(f"scan_shape must be two positive integers (n_x, n_y); got {scan_shape!r}")
    return int(n_x), int(n_y)


