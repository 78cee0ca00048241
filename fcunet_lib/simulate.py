"""Dynamical CBED thickness series with abTEM multislice.

One call simulates one (crystal, orientation, probe) job: a single multislice
run whose exit planes give every thickness, its diffraction patterns on the
library's reciprocal grid (0.0217 Å⁻¹ = 1/46.08 Å pixels, centred at
``(N//2, N//2)``, indexed ``[qx, qy]``), and the matching vacuum-probe image.

Sampling is a physics setting (:class:`SimulationSetting`, the same at every
scale and recorded in the metadata); ``pattern_size`` is a model setting, a
centred crop of the simulated pattern.

Grid. The real-space sampling is ``SIMULATION_CELL / setting.gpts`` (0.12 Å for
384 points over 46.08 Å), so the anti-aliasing limit ``1/(3 Δx)`` is 2.78 Å⁻¹
and a 256-pixel crop fits. A periodic zone-axis cell of width ``L ≥ 46.08 Å``
(see :mod:`fcunet_lib.orientation`) is simulated with the smallest
FFT-friendly number of points that keeps ``Δx`` at or below that sampling; its
pattern, exact samples at ``k = n/L``, is resampled bilinearly to
``k = n/46.08 Å``. The vacuum probe goes through the same resampling, so the
pattern and its template stay consistent. A 46.08 Å block (random
orientations) needs no resampling.

Normalisation (the paper's convention). Both images are divided by the
maximum of the vacuum-probe image ``|ψ_probe(k)|²``: the probe image has
maximum 1, a thin specimen's direct disk is ≈ 1, and
``patterns[i].sum() / probe.sum()`` is the fraction of the incident electrons
that land inside the stored window (≤ 1). Absolute dose is left to the
augmentation stage.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE, SIMULATION_CELL
from fcunet_lib.orientation import MAX_TILT_MRAD, OrientedCrystal, periodic_crystal

__all__ = [
    "SimulationSetting",
    "DEFAULT_SETTING",
    "BULLSEYE",
    "simulate_cbed_series",
    "simulate_with_target",
    "exit_thicknesses_nm",
    "simulation_grid",
    "make_aperture",
]


@dataclass(frozen=True)
class SimulationSetting:
    """Numerical setting of the multislice simulation (physics, not scale).

    The default, 384 points per 46.08 Å (0.12 Å), 2 Å slices, infinite
    projection, static lattice, was chosen from ``benchmarks/convergence.json``
    (Si[110], 300 kV, 2 mrad, 128² crop; relative L2 of the pattern / RMS
    relative error of the 20 strongest disks):

    * against 512 points, 1 Å, infinite: 0.03 / 0.05 at 20 nm, 0.08 / 0.08 at
      50 nm; against 768 points, finite: 0.04 / 0.10 and 0.09 / 0.17. The
      remaining difference is mostly intensity scattered beyond the 2.78 Å⁻¹
      band limit (87 % kept inside 1.39 Å⁻¹ at 50 nm, against 94 % at 512).
    * 1 Å slices change nothing that matters (≤ 0.013 in L2) and cost twice.
    * abTEM's finite projection integrates the potential in real space and is
      far from converged at these samplings (0.28–0.45 from the 768-point
      finite run at 384 points); both projections meet at fine sampling
      (512 infinite vs 768 finite: 0.02–0.04), so the infinite projection,
      evaluated from scattering factors, is the better use of the grid.
    * 384 points is the smallest grid whose band limit (2.78 Å⁻¹) holds the
      paper's 256² pattern at 0.0217 Å⁻¹, and costs about half of 512
      (≈ 0.9 s per 25-thickness series on one core, which the ≥ 40 patterns/s
      goal of the 2-core library needs). The paper's own grid (512² pixels
      over ≈ 46 Å) is one switch away: ``SimulationSetting(gpts=512)``.
    * A static lattice keeps patterns deterministic and Friedel-symmetric on
      zone; the paper's single frozen-phonon configuration is
      ``frozen_phonons=1, thermal_sigma_A≈0.08``.

    Attributes
    ----------
    gpts : int
        Real-space grid points across ``SIMULATION_CELL`` (46.08 Å); sets the
        sampling ``46.08 Å / gpts`` [Å] used for every cell.
    slice_thickness_A : float
        Nominal slice thickness [Å]; a periodic unit is cut into
        ``max(2, round(period / slice_thickness_A))`` equal slices.
    projection : {'infinite', 'finite'}
        abTEM's potential projection.
    frozen_phonons : int
        Frozen-phonon configurations averaged; 0 for a static lattice.
    thermal_sigma_A : float
        RMS displacement of every atom along each axis [Å]: the frozen phonons'
        and the targets' Debye–Waller factor; must be 0 for a static lattice.
    parametrization : {'lobato', 'kirkland', 'peng'}
        Electron scattering-factor parametrization (also used by the targets).
    """

    gpts: int = 384
    slice_thickness_A: float = 2.0
    projection: str = "infinite"
    frozen_phonons: int = 0
    thermal_sigma_A: float = 0.0
    parametrization: str = "lobato"

    def __post_init__(self):
        if not isinstance(self.gpts, (int, np.integer)) or self.gpts < 64:
            raise ValueError(f"expected gpts an integer >= 64, got {self.gpts!r}")
        if not np.isfinite(self.slice_thickness_A) or not 0.05 <= self.slice_thickness_A <= 20:
            raise ValueError(
                f"expected slice_thickness_A in [0.05, 20] Å, got {self.slice_thickness_A!r}"
            )
        if self.projection not in ("infinite", "finite"):
            raise ValueError(f"expected projection 'infinite' or 'finite', got {self.projection!r}")
        if not isinstance(self.frozen_phonons, (int, np.integer)) or self.frozen_phonons < 0:
            raise ValueError(
                f"expected frozen_phonons an integer >= 0, got {self.frozen_phonons!r}"
            )
        if not np.isfinite(self.thermal_sigma_A) or self.thermal_sigma_A < 0:
            raise ValueError(f"expected thermal_sigma_A >= 0 Å, got {self.thermal_sigma_A!r}")
        if self.frozen_phonons > 0 and self.thermal_sigma_A <= 0:
            raise ValueError("expected thermal_sigma_A > 0 Å when frozen_phonons > 0")
        if self.frozen_phonons == 0 and self.thermal_sigma_A != 0:
            # The targets take their Debye–Waller factor from this field: a
            # static simulation with damped targets would be inconsistent.
            raise ValueError(
                "expected thermal_sigma_A = 0 Å for a static lattice (frozen_phonons = 0)"
            )
        if self.parametrization not in ("lobato", "kirkland", "peng"):
            raise ValueError(
                "expected parametrization 'lobato', 'kirkland' or 'peng', "
                f"got {self.parametrization!r}"
            )

    @property
    def sampling_A(self) -> float:
        """Target real-space sampling [Å]."""
        return SIMULATION_CELL / self.gpts

    @property
    def k_max_inv_A(self) -> float:
        """Anti-aliasing band limit ``1 / (3 Δx)`` [Å⁻¹]."""
        return 1.0 / (3.0 * self.sampling_A)

    @property
    def max_pattern_size(self) -> int:
        """Largest even centred crop at 0.0217 Å⁻¹ inside the band limit [pixels]."""
        return 2 * int(math.floor(self.k_max_inv_A / RECIPROCAL_PIXEL_SIZE + 1e-6))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the metadata, with the derived sampling [Å]."""
        return dataclasses.asdict(self) | {"sampling_A": self.sampling_A}


#: The library's setting (see the class docstring for why).
DEFAULT_SETTING = SimulationSetting()

#: Default bullseye geometry (patterned probe of the paper's Fig. 4): three
#: open rings, half of each radial period open, three spokes of half a ring width.

BULLSEYE = {"num_spokes": 3, "spoke_width": 0.5, "num_rings": 3, "ring_width": 0.5}


# --------------------------------------------------------------------------- #
# Grid and slicing plans (pure)
# --------------------------------------------------------------------------- #
def _is_smooth(n: int) -> bool:
    """True if ``n`` has no prime factor above 7 (fast FFT sizes)."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def _unit_gpts(length_A: float, repetitions: int, sampling_A: float) -> int:
    """Fewest 7-smooth points per unit with ``Δx <= sampling_A`` and an even total.

    Only the per-unit count is made smooth: the repetitions are set by the
    crystal (they may be prime, e.g. 13 × 3.795 Å for a perovskite), and
    requiring a smooth total would then never terminate.
    """
    if repetitions < 1:
        raise ValueError(f"expected repetitions >= 1, got {repetitions}")
    # 0.2 % slack: 12 × 3.8403 Å (Si[110]) keeps 32 points per unit, not 35.
    g = math.ceil(length_A / (sampling_A * 1.002))
    while not (_is_smooth(g) and (g * repetitions) % 2 == 0):
        g += 1
    return g


def simulation_grid(crystal: OrientedCrystal, setting: SimulationSetting = DEFAULT_SETTING) -> dict:
    """Grid of the periodic simulation of ``crystal``.

    Returns
    -------
    dict
        ``unit_gpts`` (points per unit cell), ``gpts`` (total), ``extent_A``
        (cell width [Å]), ``sampling_A`` (actual Δx [Å]) and
        ``reciprocal_sampling`` (1/L [Å⁻¹]), each for x and y.
    """
    lengths = np.diag(crystal.atoms.cell.array)[:2]
    unit_gpts = tuple(
        _unit_gpts(float(length), reps, setting.sampling_A)
        for length, reps in zip(lengths, crystal.repetitions)
    )
    gpts = tuple(g * r for g, r in zip(unit_gpts, crystal.repetitions))
    extent = crystal.extent_A
    return {
        "unit_gpts": unit_gpts,
        "gpts": gpts,
        "extent_A": extent,
        "sampling_A": tuple(e / n for e, n in zip(extent, gpts)),
        "reciprocal_sampling": tuple(1.0 / e for e in extent),
    }


def _validate_thicknesses(thicknesses_nm) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thicknesses_nm, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"expected a 1D sequence of thicknesses [nm], got {thicknesses_nm!r}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"expected thicknesses > 0 nm, got {t.tolist()}")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"expected strictly increasing thicknesses [nm], got {t.tolist()}")
    return t


def _slice_plan(crystal: OrientedCrystal, thicknesses_nm, setting: SimulationSetting) -> dict:
    """Slices, exit planes and the thicknesses they realise."""
    t_A = 10.0 * _validate_thicknesses(thicknesses_nm)
    depth = crystal.depth_A
    if crystal.z_periodic:
        per_unit = max(2, round(depth / setting.slice_thickness_A))
        dz = depth / per_unit
    else:
        if t_A[-1] > depth + 1e-6:
            raise ValueError(
                f"expected thicknesses up to the block's {depth / 10:.2f} nm, "
                f"got {t_A[-1] / 10:.2f} nm"
            )
        per_unit = max(1, round(depth / setting.slice_thickness_A))
        dz = depth / per_unit
    exit_planes = np.maximum(np.round(t_A / dz).astype(int), 1) - 1
    if np.any(np.diff(exit_planes) <= 0):
        raise ValueError(
            f"thicknesses {np.round(t_A / 10, 4).tolist()} nm are closer than one slice "
            f"({dz / 10:.3f} nm); expected distinct slice counts"
        )
    n_slices = int(exit_planes[-1]) + 1
    z_repetitions = math.ceil(n_slices / per_unit) if crystal.z_periodic else 1
    return {
        "slice_thickness_A": dz,
        "slices_per_unit": per_unit,
        "z_repetitions": z_repetitions,
        "exit_planes": tuple(int(i) for i in exit_planes),
        "thicknesses_nm": tuple(float(v) for v in (exit_planes + 1) * dz / 10.0),
    }


def exit_thicknesses_nm(
    crystal: OrientedCrystal, thicknesses_nm, *, setting: SimulationSetting = DEFAULT_SETTING
) -> tuple[float, ...]:
    """Thicknesses [nm] the simulation realises: whole slices nearest the request.

    Use these for targets and metadata; they differ from the request by at
    most half a slice.
    """
    return _slice_plan(_as_crystal(crystal), thicknesses_nm, setting)["thicknesses_nm"]


def make_aperture(aperture, semiangle_mrad: float):
    """abTEM aperture for ``aperture`` (None, ``"bullseye"``, a dict or an aperture).

    ``None`` is a circular aperture with abTEM's soft edge; ``"bullseye"`` uses
    :data:`BULLSEYE`; a dict overrides its keys; an abTEM aperture is used as is.
    """
    import abtem

    if aperture is None:
        return None
    if isinstance(aperture, str):
        if aperture != "bullseye":
            raise ValueError(
                f"expected aperture None, 'bullseye', a dict or an abTEM aperture, got {aperture!r}"
            )
        aperture = {}
    if isinstance(aperture, dict):
        unknown = set(aperture) - set(BULLSEYE)
        if unknown:
            raise ValueError(
                f"unknown bullseye parameters {sorted(unknown)}; expected {sorted(BULLSEYE)}"
            )
        return abtem.transfer.Bullseye(semiangle_cutoff=semiangle_mrad, **(BULLSEYE | aperture))
    if isinstance(aperture, abtem.transfer.BaseAperture):
        return aperture
    raise ValueError(
        f"expected aperture None, 'bullseye', a dict or an abTEM aperture, got {aperture!r}"
    )


def _as_crystal(crystal) -> OrientedCrystal:
    if isinstance(crystal, OrientedCrystal):
        return crystal
    return periodic_crystal(crystal)


# --------------------------------------------------------------------------- #
# Resampling to the library grid
# --------------------------------------------------------------------------- #
def _linear_resampling_matrix(n_old: int, dk_old: float, n_new: int, dk_new: float):
    """Sparse (n_new, n_old) linear interpolation from one centred grid to another.

    Both grids have k = 0 at index ``n // 2``; points outside the old grid get 0
    (they lie beyond the band limit, where the wave is zero).
    """
    from scipy import sparse

    k_new = (np.arange(n_new) - n_new // 2) * dk_new
    position = k_new / dk_old + n_old // 2
    lower = np.floor(position).astype(int)
    weight = position - lower
    rows = np.concatenate([np.arange(n_new), np.arange(n_new)])
    cols = np.concatenate([lower, lower + 1])
    values = np.concatenate([1.0 - weight, weight])
    keep = (cols >= 0) & (cols < n_old) & (values > 1e-12)
    return sparse.csr_matrix((values[keep], (rows[keep], cols[keep])), shape=(n_new, n_old))


def _to_library_grid(images: np.ndarray, dk_old: tuple[float, float], n_new: int) -> np.ndarray:
    """Resample centred patterns ``[..., nx, ny]`` to ``n_new²`` at 1/46.08 Å⁻¹."""
    lead = images.shape[:-2]
    nx, ny = images.shape[-2:]
    stack = images.reshape((-1, nx, ny))
    wx = _linear_resampling_matrix(nx, dk_old[0], n_new, RECIPROCAL_PIXEL_SIZE)
    wy = _linear_resampling_matrix(ny, dk_old[1], n_new, RECIPROCAL_PIXEL_SIZE)
    count = stack.shape[0]
    along_x = wx @ stack.transpose(1, 0, 2).reshape(nx, count * ny)  # (n_new, count*ny)
    along_x = along_x.reshape(n_new, count, ny).transpose(2, 1, 0).reshape(ny, count * n_new)
    both = (wy @ along_x).reshape(n_new, count, n_new)  # [qy, image, qx]
    return both.transpose(1, 2, 0).reshape(lead + (n_new, n_new))


def _check_pattern_size(pattern_size, grid: dict, setting: SimulationSetting) -> int:
    if (
        not isinstance(pattern_size, (int, np.integer))
        or pattern_size < 16
        or pattern_size & (pattern_size - 1)
    ):
        raise ValueError(
            f"expected pattern_size a power of two >= 16 [pixels], got {pattern_size!r}"
        )
    needed = (pattern_size // 2) * RECIPROCAL_PIXEL_SIZE
    reached = min(1.0 / (3.0 * s) for s in grid["sampling_A"])
    if needed > reached + 0.5 * RECIPROCAL_PIXEL_SIZE:
        raise ValueError(
            f"pattern_size {pattern_size} needs k up to {needed:.3f} Å⁻¹ but the simulation "
            f"(gpts={setting.gpts}) reaches {reached:.3f} Å⁻¹; expected pattern_size <= "
            f"{setting.max_pattern_size} or a larger setting.gpts"
        )
    return int(pattern_size)


# --------------------------------------------------------------------------- #
# The simulation
# --------------------------------------------------------------------------- #
def _validate_probe(energy_kv, semiangle_mrad, tilt_mrad, setting) -> tuple[float, float, tuple]:
    if not np.isfinite(energy_kv) or not 10.0 <= energy_kv <= 1000.0:
        raise ValueError(f"expected energy_kv in [10, 1000] kV, got {energy_kv!r}")
    if not np.isfinite(semiangle_mrad) or semiangle_mrad <= 0:
        raise ValueError(f"expected semiangle_mrad > 0 mrad, got {semiangle_mrad!r}")
    from abtem.core.energy import energy2wavelength

    wavelength = energy2wavelength(energy_kv * 1e3)
    k_aperture = semiangle_mrad * 1e-3 / wavelength
    if k_aperture >= setting.k_max_inv_A:
        raise ValueError(
            f"semiangle {semiangle_mrad} mrad ({k_aperture:.2f} Å⁻¹) exceeds the band limit "
            f"{setting.k_max_inv_A:.2f} Å⁻¹; expected a smaller semiangle"
        )
    tilt = tuple(float(v) for v in np.asarray(tilt_mrad, dtype=float).ravel())
    if len(tilt) != 2 or not np.all(np.isfinite(tilt)) or math.hypot(*tilt) > MAX_TILT_MRAD:
        raise ValueError(
            f"expected tilt_mrad two finite values within {MAX_TILT_MRAD} mrad, got {tilt_mrad!r}"
        )
    return float(energy_kv), float(semiangle_mrad), tilt


def _potential(
    crystal: OrientedCrystal, grid: dict, plan: dict, setting: SimulationSetting, seed: int
):
    import abtem

    atoms = crystal.atoms
    if setting.frozen_phonons > 0:
        atoms = abtem.FrozenPhonons(
            atoms,
            # A zone-axis unit is a pool of displaced snapshots that abTEM's
            # CrystalPotential draws from, one distinct snapshot per lateral tile.
            num_configs=(
                crystal.repetitions[0] * crystal.repetitions[1]
                if crystal.z_periodic
                else setting.frozen_phonons
            ),
            sigmas=setting.thermal_sigma_A,
            seed=seed,
        )
    common = {
        "slice_thickness": plan["slice_thickness_A"],
        "projection": setting.projection,
        "parametrization": setting.parametrization,
    }
    if crystal.z_periodic:
        unit = abtem.Potential(atoms, gpts=grid["unit_gpts"], **common)
        phonons = {}
        if setting.frozen_phonons > 0:
            phonons = {"num_frozen_phonons": setting.frozen_phonons, "seeds": seed}
        return abtem.CrystalPotential(
            unit,
            repetitions=tuple(crystal.repetitions) + (plan["z_repetitions"],),
            exit_planes=plan["exit_planes"],
            **phonons,
        )
    return abtem.Potential(atoms, gpts=grid["gpts"], exit_planes=plan["exit_planes"], **common)


def _thickness_stack(measurement, count: int) -> np.ndarray:
    """``[n_thicknesses, nx, ny]`` from abTEM's patterns: other ensemble axes averaged."""
    from abtem.core.axes import ThicknessAxis

    array = np.asarray(measurement.array, dtype=np.float64)
    axes = measurement.ensemble_axes_metadata
    thickness = [i for i, axis in enumerate(axes) if isinstance(axis, ThicknessAxis)]
    others = tuple(i for i in range(len(axes)) if i not in thickness)
    if others:  # frozen-phonon configurations, when abTEM kept them
        array = array.mean(axis=others, keepdims=True)
    array = array.reshape((-1,) + array.shape[-2:])
    if array.shape[0] != count:
        raise RuntimeError(f"abTEM returned {array.shape[0]} exit planes, expected {count}")
    return array


def simulate_cbed_series(
    crystal,
    *,
    energy_kv: float,
    semiangle_mrad: float,
    thicknesses_nm,
    tilt_mrad=(0.0, 0.0),
    aperture=None,
    pattern_size: int,
    setting: SimulationSetting = DEFAULT_SETTING,
    probe_position_A: tuple[float, float] | None = None,
    seed: int = 0,
    return_metadata: bool = False,
):
    """Simulate a CBED thickness series and its vacuum probe.

    Parameters
    ----------
    crystal : OrientedCrystal or ase.Atoms or pymatgen.core.Structure
        From :mod:`fcunet_lib.orientation`; a plain structure must already be
        an orthogonal cell with the beam along z (it is tiled to 46.08 Å).
    energy_kv : float
        Beam energy [kV] (10–1000; the paper uses 80, 200, 300).
    semiangle_mrad : float
        Probe convergence semiangle [mrad] (> 0).
    thicknesses_nm : sequence of float
        Specimen thicknesses [nm], strictly increasing; realised to the nearest
        whole slice (:func:`exit_thicknesses_nm`).
    tilt_mrad : two float
        Beam tilt ``(tx, ty)`` [mrad], standing for a specimen mistilt.
    aperture : None, "bullseye", dict or abTEM aperture
        Probe-forming aperture (:func:`make_aperture`).
    pattern_size : int
        Stored pattern size N [pixels], a power of two within the band limit.
    setting : SimulationSetting
        Numerical setting (recorded in the metadata).
    probe_position_A : two float, optional
        Probe position in the simulated cell [Å]; its centre by default.
    seed : int
        Seed of the frozen phonons (unused for a static lattice).
    return_metadata : bool
        Also return a dict describing the simulation.

    Returns
    -------
    patterns : ndarray of shape (n_thicknesses, N, N), float32
        ``|ψ_exit(k)|²`` at 1/46.08 Å⁻¹ pixels, centred at ``(N//2, N//2)``,
        divided by the vacuum probe's maximum.
    probe : ndarray of shape (N, N), float32
        Vacuum probe ``|ψ_probe(k)|²`` on the same grid, maximum 1.
    metadata : dict, optional
        Setting, grid, realised thicknesses [nm], probe and orientation.
    """
    import abtem

    crystal = _as_crystal(crystal)
    energy_kv, semiangle_mrad, tilt = _validate_probe(energy_kv, semiangle_mrad, tilt_mrad, setting)
    grid = simulation_grid(crystal, setting)
    size = _check_pattern_size(pattern_size, grid, setting)
    plan = _slice_plan(crystal, thicknesses_nm, setting)
    extent = grid["extent_A"]
    if probe_position_A is None:
        probe_position_A = (extent[0] / 2, extent[1] / 2)
    position = tuple(float(v) for v in probe_position_A)
    if len(position) != 2 or not all(0 <= p <= e for p, e in zip(position, extent)):
        raise ValueError(
            f"expected probe_position_A inside the {extent} Å cell, got {probe_position_A!r}"
        )

    probe = abtem.Probe(
        energy=energy_kv * 1e3,
        semiangle_cutoff=None if aperture is not None else semiangle_mrad,
        aperture=make_aperture(aperture, semiangle_mrad),
        tilt=tilt,
        extent=extent,
        gpts=grid["gpts"],
    )
    potential = _potential(crystal, grid, plan, setting, seed)
    # FFTW_ESTIMATE: FFTW_MEASURE (abTEM's default) times candidate plans and
    # may pick another one in another process, changing the last bits of the
    # result; an estimated plan depends only on the size, so same job, same bytes.
    with abtem.config.set({"diagnostics.progress_bar": False,
                           "fftw.planning_effort": "FFTW_ESTIMATE"}):
        exit_waves = probe.multislice(potential, scan=position)
        patterns = exit_waves.diffraction_patterns(max_angle="cutoff").compute(
            scheduler="synchronous"
        )
        vacuum = (
            probe.build().diffraction_patterns(max_angle="cutoff").compute(scheduler="synchronous")
        )
    patterns = _thickness_stack(patterns, len(plan["exit_planes"]))
    vacuum = np.asarray(vacuum.array, dtype=np.float64)
    dk_old = grid["reciprocal_sampling"]
    patterns = _to_library_grid(patterns, dk_old, size)
    vacuum = _to_library_grid(vacuum, dk_old, size)
    peak = vacuum.max()
    patterns = (patterns / peak).astype(np.float32)
    vacuum = (vacuum / peak).astype(np.float32)
    if not return_metadata:
        return patterns, vacuum
    metadata = {
        "setting": setting.to_dict(),
        "energy_kv": energy_kv,
        "semiangle_mrad": semiangle_mrad,
        "aperture": "circular"
        if aperture is None
        else (aperture if isinstance(aperture, (str, dict)) else repr(aperture)),
        "tilt_mrad": list(tilt),
        "thicknesses_nm": list(plan["thicknesses_nm"]),
        "requested_thicknesses_nm": _validate_thicknesses(thicknesses_nm).tolist(),
        "slice_thickness_A": plan["slice_thickness_A"],
        "pattern_size": size,
        "reciprocal_pixel_inv_A": RECIPROCAL_PIXEL_SIZE,
        "simulated_gpts": list(grid["gpts"]),
        "simulated_extent_A": list(extent),
        "resampled": not np.allclose(dk_old, RECIPROCAL_PIXEL_SIZE, rtol=1e-12),
        "probe_position_A": list(position),
        "normalisation": "patterns and probe divided by the vacuum probe's maximum |psi(k)|^2",
        "abtem_version": abtem.__version__,
        "crystal": crystal.metadata(),
    }
    return patterns, vacuum, metadata


def simulate_with_target(
    crystal,
    *,
    energy_kv: float,
    semiangle_mrad: float,
    thicknesses_nm,
    tilt_mrad=(0.0, 0.0),
    aperture=None,
    pattern_size: int,
    setting: SimulationSetting = DEFAULT_SETTING,
    probe_position_A: tuple[float, float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """One library job: CBED series, probe and matching structure-factor targets.

    Parameters are those of :func:`simulate_cbed_series`. The targets use the
    realised thicknesses, the same tilt, the setting's parametrization and,
    with frozen phonons, its Debye–Waller factor, so the pair cannot drift.

    Returns
    -------
    dict
        ``cbed`` (n, N, N) and ``probe`` (N, N) float32 in units of the
        vacuum probe's maximum; ``target`` (n, N, N) float32 [V·Å]
        (:func:`fcunet_lib.targets.structure_factor_target`); ``metadata``.
    """
    from fcunet_lib.targets import EXCITATION_SIGMA, SPOT_SIGMA_PX, structure_factor_target

    crystal = _as_crystal(crystal)
    cbed, probe, metadata = simulate_cbed_series(
        crystal,
        energy_kv=energy_kv,
        semiangle_mrad=semiangle_mrad,
        thicknesses_nm=thicknesses_nm,
        tilt_mrad=tilt_mrad,
        aperture=aperture,
        pattern_size=pattern_size,
        setting=setting,
        probe_position_A=probe_position_A,
        seed=seed,
        return_metadata=True,
    )
    target = structure_factor_target(
        crystal,
        thicknesses_nm=metadata["thicknesses_nm"],
        pattern_size=pattern_size,
        tilt_mrad=metadata["tilt_mrad"],
        parametrization=setting.parametrization,
        thermal_sigma_A=setting.thermal_sigma_A,
    )
    metadata["target"] = {
        "units": "V*Angstrom",
        "excitation_sigma_inv_A": EXCITATION_SIGMA,
        "spot_sigma_px": SPOT_SIGMA_PX,
        "definition": (
            "thickness * |V_g| * exp(-s_g^2 / (2 sigma^2)) at each spot's peak, Gaussian spots"
        ),
    }
    return {"cbed": cbed, "probe": probe, "target": target, "metadata": metadata}
