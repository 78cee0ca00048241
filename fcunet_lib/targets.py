"""Ground-truth structure-factor images (the networks' targets).

The paper's target is the magnitude of the 3D Fourier transform of the
specimen potential, weighted along the beam by a Gaussian of σ = 0.05 Å⁻¹
centred on q_z = 0 (a flat Ewald sphere) and summed over q_z. For a crystal
that is a sum over reciprocal-lattice vectors g:

    T(q) = t · Σ_g |V_g| · exp(−s_g² / (2σ²)) · δ(q − g_⊥)

with ``t`` the thickness [Å], ``V_g`` the potential's Fourier coefficient [V],
``s_g = g · b̂`` the component of g along the beam (``b̂`` from
:func:`fcunet_lib.orientation.beam_direction`, so a mistilt shifts the filter)
and ``g_⊥ = (g_x, g_y)`` the spot position in the pattern. Here it is
computed analytically in milliseconds:

    V_g = (h² / 2π m₀e) · (1 / Ω) · Σ_j f_j(|g|) · exp(−2π² σ_th² |g|²) · exp(−2πi g·r_j)

with abTEM's electron scattering factors ``f_j`` [Å] (Lobato by default, the
simulation's parametrization), the cell volume Ω [Å³], and
``h²/(2π m₀ e) = 47.878 V·Å²``. Units of the target: **V·Å**, the magnitude of
the projected potential's Fourier coefficient (what
:func:`reference_target`, the FFT of abTEM's potential slices, gives without
any rescaling). Linear in thickness by construction. g = 0 (the mean inner
potential times t) is included, as in the paper's FFT.

Rendering. Each spot is a Gaussian of standard deviation ``spot_sigma_px``
(0.75 px by default, about the width of the paper's Tukey-windowed FFT peaks)
whose *peak value* is the spot amplitude, centred at the exact sub-pixel
position ``g_⊥ / Δk + N//2`` (Δk = 1/46.08 Å⁻¹, axes ``[qx, qy]``). Spots that
land on the same position (g differing only along the beam) add up, as in the
paper's q_z sum. A centroid over ±3 px recovers the position to < 0.01 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE
from fcunet_lib.orientation import OrientedCrystal, beam_direction, periodic_crystal

__all__ = [
    "EXCITATION_SIGMA",
    "SPOT_SIGMA_PX",
    "POTENTIAL_CONSTANT",
    "Spots",
    "structure_factor_spots",
    "render_spots",
    "structure_factor_target",
    "reference_target",
]

#: σ of the excitation-error filter along the beam [Å⁻¹] (paper: 0.05 Å⁻¹).
EXCITATION_SIGMA = 0.05
#: Standard deviation of a rendered spot [pixels].
SPOT_SIGMA_PX = 0.75
#: h² / (2π m₀ e) [V·Å²]: V_g = POTENTIAL_CONSTANT · F_g with F_g in Å⁻².
POTENTIAL_CONSTANT = 47.877647

_CUTOFF_SIGMAS = 5.0


@dataclass(frozen=True)
class Spots:
    """Reciprocal-lattice vectors that enter the target.

    Attributes
    ----------
    hkl : ndarray of shape (n, 3), int
        Indices in the reciprocal basis of ``crystal.lattice``.
    g_inv_A : ndarray of shape (n, 3)
        g in the lab frame [Å⁻¹]; the spot sits at ``(g_x, g_y)``.
    excitation_error_inv_A : ndarray of shape (n,)
        ``s_g = g · b̂`` [Å⁻¹].
    amplitude_V : ndarray of shape (n,)
        ``|V_g| · exp(−s_g² / 2σ²)`` [V]: the target per Å of thickness.
    """

    hkl: np.ndarray
    g_inv_A: np.ndarray
    excitation_error_inv_A: np.ndarray
    amplitude_V: np.ndarray

    def positions_px(self, pattern_size: int) -> np.ndarray:
        """Spot positions ``[qx, qy]`` [pixels] on an N × N pattern centred at N//2."""
        return self.g_inv_A[:, :2] / RECIPROCAL_PIXEL_SIZE + pattern_size // 2


def _as_crystal(crystal) -> OrientedCrystal:
    return crystal if isinstance(crystal, OrientedCrystal) else periodic_crystal(crystal)


def _candidate_hkl(
    reciprocal: np.ndarray, cell: np.ndarray, beam: np.ndarray, half_width: float, s_max: float
):
    """Integer hkl whose g can lie in the slab |g·b| <= s_max, |g_x|, |g_y| <= half_width."""
    beta = reciprocal @ beam  # g·b per unit index
    axis = int(np.argmax(np.abs(beta)))
    others = [i for i in range(3) if i != axis]
    gz_max = (s_max + half_width * (abs(beam[0]) + abs(beam[1]))) / abs(beam[2])
    g_max = math.sqrt(2 * half_width**2 + gz_max**2)
    bounds = [math.ceil(g_max * np.linalg.norm(cell[i])) for i in others]
    p, q = np.meshgrid(*(np.arange(-b, b + 1) for b in bounds), indexing="ij")
    p, q = p.ravel(), q.ravel()
    centre = -(p * beta[others[0]] + q * beta[others[1]]) / beta[axis]
    half = s_max / abs(beta[axis])
    low = np.ceil(centre - half).astype(int)
    width = np.floor(centre + half).astype(int) - low + 1
    offsets = np.arange(max(1, int(width.max(initial=1))))
    keep = offsets[None, :] < width[:, None]
    hkl = np.zeros((p.size, offsets.size, 3), dtype=int)
    hkl[..., others[0]] = p[:, None]
    hkl[..., others[1]] = q[:, None]
    hkl[..., axis] = low[:, None] + offsets[None, :]
    return hkl[keep]


def _structure_factor_V(
    lattice, g: np.ndarray, parametrization: str, thermal_sigma_A: float
) -> np.ndarray:
    """Complex V_g [V] of the periodic ``lattice`` (ase Atoms, lab frame) at g [Å⁻¹]."""
    from abtem.parametrizations import validate_parametrization

    parametrization = validate_parametrization(parametrization)
    g2 = (g**2).sum(axis=1)
    debye_waller = np.exp(-2.0 * math.pi**2 * thermal_sigma_A**2 * g2)
    phases = np.exp(-2j * math.pi * (lattice.positions @ g.T))  # (atoms, g)
    total = np.zeros(len(g), dtype=complex)
    for number in np.unique(lattice.numbers):
        f = parametrization.scattering_factor(int(number))(g2)  # [Å]
        total += f * phases[lattice.numbers == number].sum(axis=0)
    return POTENTIAL_CONSTANT * debye_waller * total / abs(lattice.cell.volume)


def structure_factor_spots(
    crystal,
    *,
    k_max_inv_A: float,
    tilt_mrad=(0.0, 0.0),
    excitation_sigma: float = EXCITATION_SIGMA,
    parametrization: str = "lobato",
    thermal_sigma_A: float = 0.0,
) -> Spots:
    """Reciprocal-lattice spots of the target, with amplitudes per Å of thickness.

    Parameters
    ----------
    crystal : OrientedCrystal or ase.Atoms
        From :mod:`fcunet_lib.orientation`; its ``lattice`` gives g.
    k_max_inv_A : float
        Keep spots with ``|g_x|, |g_y| <= k_max_inv_A`` [Å⁻¹].
    tilt_mrad : two float
        Beam tilt [mrad], as given to the simulation.
    excitation_sigma : float
        σ of the filter ``exp(−s_g²/2σ²)`` [Å⁻¹]; spots beyond 5σ are dropped.
    parametrization : str
        abTEM scattering-factor parametrization.
    thermal_sigma_A : float
        RMS displacement for a Debye–Waller factor [Å] (0: static lattice).

    Returns
    -------
    Spots
    """
    if not np.isfinite(k_max_inv_A) or k_max_inv_A <= 0:
        raise ValueError(f"expected k_max_inv_A > 0 Å⁻¹, got {k_max_inv_A!r}")
    if not np.isfinite(excitation_sigma) or excitation_sigma <= 0:
        raise ValueError(f"expected excitation_sigma > 0 Å⁻¹, got {excitation_sigma!r}")
    if not np.isfinite(thermal_sigma_A) or thermal_sigma_A < 0:
        raise ValueError(f"expected thermal_sigma_A >= 0 Å, got {thermal_sigma_A!r}")
    crystal = _as_crystal(crystal)
    cell = crystal.lattice.cell.array
    reciprocal = np.linalg.inv(cell).T  # rows b_i with a_i · b_j = δ_ij
    beam = beam_direction(tilt_mrad)
    s_max = _CUTOFF_SIGMAS * excitation_sigma
    hkl = _candidate_hkl(reciprocal, cell, beam, k_max_inv_A, s_max)
    g = hkl @ reciprocal
    s = g @ beam
    inside = (
        (np.abs(g[:, 0]) <= k_max_inv_A) & (np.abs(g[:, 1]) <= k_max_inv_A) & (np.abs(s) <= s_max)
    )
    hkl, g, s = hkl[inside], g[inside], s[inside]
    v = _structure_factor_V(crystal.lattice, g, parametrization, thermal_sigma_A)
    amplitude = np.abs(v) * np.exp(-(s**2) / (2 * excitation_sigma**2))
    return Spots(hkl=hkl, g_inv_A=g, excitation_error_inv_A=s, amplitude_V=amplitude)


def render_spots(
    positions_px: np.ndarray,
    amplitudes: np.ndarray,
    *,
    pattern_size: int,
    spot_sigma_px: float = SPOT_SIGMA_PX,
) -> np.ndarray:
    """Render Gaussian spots at sub-pixel positions onto an N × N image.

    Parameters
    ----------
    positions_px : ndarray of shape (n, 2)
        Spot centres ``[qx, qy]`` [pixels].
    amplitudes : ndarray of shape (n,)
        Peak value of each spot (units carried through).
    pattern_size : int
        N [pixels].
    spot_sigma_px : float
        Gaussian standard deviation [pixels] (> 0).

    Returns
    -------
    ndarray of shape (N, N), float64
    """
    positions = np.asarray(positions_px, dtype=float).reshape(-1, 2)
    amplitudes = np.asarray(amplitudes, dtype=float).ravel()
    if positions.shape[0] != amplitudes.size:
        raise ValueError(
            f"expected one amplitude per position, got {amplitudes.size} and {positions.shape[0]}"
        )
    if not np.isfinite(spot_sigma_px) or spot_sigma_px <= 0:
        raise ValueError(f"expected spot_sigma_px > 0 pixels, got {spot_sigma_px!r}")
    if not isinstance(pattern_size, (int, np.integer)) or pattern_size < 1:
        raise ValueError(f"expected pattern_size a positive integer [pixels], got {pattern_size!r}")
    image = np.zeros((pattern_size, pattern_size))
    radius = int(math.ceil(4 * spot_sigma_px))
    near = np.all((positions > -radius - 1) & (positions < pattern_size + radius), axis=1)
    positions, amplitudes = positions[near], amplitudes[near]
    offsets = np.arange(-radius, radius + 1)
    base = np.round(positions).astype(int)
    ix = base[:, 0, None] + offsets[None, :]  # (n, w)
    iy = base[:, 1, None] + offsets[None, :]
    wx = np.exp(-((ix - positions[:, 0, None]) ** 2) / (2 * spot_sigma_px**2))
    wy = np.exp(-((iy - positions[:, 1, None]) ** 2) / (2 * spot_sigma_px**2))
    values = amplitudes[:, None, None] * wx[:, :, None] * wy[:, None, :]
    gx = np.broadcast_to(ix[:, :, None], values.shape)
    gy = np.broadcast_to(iy[:, None, :], values.shape)
    valid = (gx >= 0) & (gx < pattern_size) & (gy >= 0) & (gy < pattern_size)
    np.add.at(image, (gx[valid], gy[valid]), values[valid])
    return image


def _validate_thicknesses(thicknesses_nm) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thicknesses_nm, dtype=float))
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"expected thicknesses > 0 nm, got {thicknesses_nm!r}")
    return t


def structure_factor_target(
    crystal,
    *,
    thicknesses_nm,
    pattern_size: int,
    tilt_mrad=(0.0, 0.0),
    excitation_sigma: float = EXCITATION_SIGMA,
    spot_sigma_px: float = SPOT_SIGMA_PX,
    parametrization: str = "lobato",
    thermal_sigma_A: float = 0.0,
) -> np.ndarray:
    """Structure-factor target images for a thickness series.

    Parameters
    ----------
    crystal : OrientedCrystal or ase.Atoms
        As simulated.
    thicknesses_nm : sequence of float
        Thicknesses [nm]; pass the realised ones
        (:func:`fcunet_lib.simulate.exit_thicknesses_nm`).
    pattern_size : int
        N [pixels]; pixel 1/46.08 Å⁻¹, centre N//2.
    tilt_mrad, excitation_sigma, parametrization, thermal_sigma_A
        As in :func:`structure_factor_spots`.
    spot_sigma_px : float
        As in :func:`render_spots`.

    Returns
    -------
    ndarray of shape (n_thicknesses, N, N), float32
        Target [V·Å]: ``t · |V_g| · exp(−s_g²/2σ²)`` at each spot's peak.
    """
    t_A = 10.0 * _validate_thicknesses(thicknesses_nm)
    if not isinstance(pattern_size, (int, np.integer)) or pattern_size < 2:
        raise ValueError(f"expected pattern_size an integer >= 2 [pixels], got {pattern_size!r}")
    margin = math.ceil(4 * spot_sigma_px) + 1
    spots = structure_factor_spots(
        crystal,
        k_max_inv_A=(pattern_size // 2 + margin) * RECIPROCAL_PIXEL_SIZE,
        tilt_mrad=tilt_mrad,
        excitation_sigma=excitation_sigma,
        parametrization=parametrization,
        thermal_sigma_A=thermal_sigma_A,
    )
    per_angstrom = render_spots(
        spots.positions_px(pattern_size),
        spots.amplitude_V,
        pattern_size=pattern_size,
        spot_sigma_px=spot_sigma_px,
    )
    return (t_A[:, None, None] * per_angstrom[None]).astype(np.float32)


def reference_target(
    crystal,
    *,
    thickness_nm: float,
    excitation_sigma: float = EXCITATION_SIGMA,
    slice_thickness_A: float = 0.5,
    gpts_per_unit: tuple[int, int] | None = None,
    parametrization: str = "lobato",
    projection: str = "infinite",
) -> tuple[np.ndarray, tuple[float, float]]:
    """Slow reference: the paper's recipe on abTEM's potential slices.

    The potential of the z-periodic crystal, ``thickness_nm`` thick, is sliced
    by abTEM; its 3D FFT over the periodic cell (no window is needed: the cell
    and the thickness are whole periods) is weighted by
    ``exp(−q_z²/2σ²)``, its magnitude summed over q_z and divided by the
    number of lateral pixels, which gives ``t · Σ_l |V_g| · w`` [V·Å] at each
    lateral reciprocal-lattice point, one pixel per spot.

    Parameters
    ----------
    crystal : OrientedCrystal or ase.Atoms
        A ``z_periodic`` crystal; ``thickness_nm`` is rounded to whole periods.
    thickness_nm : float
        Thickness [nm].
    excitation_sigma : float
        Filter σ [Å⁻¹].
    slice_thickness_A : float
        Slice thickness [Å] (thin, so that q_z ≈ 1/period is resolved).
    gpts_per_unit : two int, optional
        Lateral points per unit cell; about 0.08 Å sampling by default.
    parametrization, projection : str
        abTEM potential options. The infinite projection is the default: its
        slices hold the exact projected potential of each atom, so the FFT
        converges to ``t·|V_g|`` (to 1–2 %, the residue being q_z in the
        scattering factor of Laue-zone spots); the finite projection
        integrates over pixels and under-reports high g by a few % at 0.1 Å.

    Returns
    -------
    image : ndarray of shape (Nx, Ny)
        Reference [V·Å] on the periodic grid, k = 0 at ``(Nx//2, Ny//2)``.
    sampling : tuple of float
        Its reciprocal pixel ``(1/Lx, 1/Ly)`` [Å⁻¹].
    """
    import abtem

    crystal = _as_crystal(crystal)
    if not crystal.z_periodic:
        raise ValueError(
            "expected a z-periodic crystal (zone axis or periodic cell) for the reference"
        )
    if not np.isfinite(thickness_nm) or thickness_nm <= 0:
        raise ValueError(f"expected thickness_nm > 0, got {thickness_nm!r}")
    unit = crystal.atoms
    period = crystal.depth_A
    z_reps = max(1, round(10.0 * thickness_nm / period))
    lengths = np.diag(unit.cell.array)
    if gpts_per_unit is None:
        gpts_per_unit = tuple(int(math.ceil(v / 0.08)) for v in lengths[:2])
    slices_per_unit = max(1, round(period / slice_thickness_A))
    tiled = unit * (crystal.repetitions[0], crystal.repetitions[1], z_reps)
    gpts = (gpts_per_unit[0] * crystal.repetitions[0], gpts_per_unit[1] * crystal.repetitions[1])
    potential = abtem.Potential(
        tiled,
        gpts=gpts,
        slice_thickness=period / slices_per_unit,
        parametrization=parametrization,
        projection=projection,
    )
    with abtem.config.set({"diagnostics.progress_bar": False}):
        slices = np.asarray(
            potential.build().compute(scheduler="synchronous").array, dtype=np.float64
        )
    n_z = slices.shape[0]
    dz = period / slices_per_unit
    along_z = np.fft.fft(slices, axis=0)
    qz = np.fft.fftfreq(n_z, d=dz)
    weight = np.exp(-(qz**2) / (2 * excitation_sigma**2))
    keep = weight > math.exp(-(_CUTOFF_SIGMAS**2) / 2)
    volume = np.fft.fft2(along_z[keep], axes=(1, 2)) / (gpts[0] * gpts[1])
    image = (np.abs(volume) * weight[keep, None, None]).sum(axis=0)
    extent = crystal.extent_A
    return np.fft.fftshift(image), (1.0 / extent[0], 1.0 / extent[1])
