"""Strain maps from Bragg vectors, end to end through py4DSTEM's ``StrainMap``.

Steps of :func:`strain_map`: calibrate the origin (the direct beam) of the
Bragg vectors, choose two basis vectors g1, g2 on the Bragg vector map
(automatically, or the ones given), index and fit g1, g2 at every scan
position (``fit_basis_vectors``, intensity weighted), and compare them with a
reference lattice (``get_strain``).

Sign convention (py4DSTEM's, used throughout the project)
---------------------------------------------------------
The strain is the *real-space* infinitesimal strain tensor ε = 1 − β, where
β maps the reference reciprocal basis onto the local one.  A reciprocal
lattice *expanded* by 1 % along x is a real lattice contracted by 1 %: it
reads ``e_xx ≈ −0.01``; a reciprocal lattice contracted by 1 % along x reads
``e_xx = +0.01``.  Values are fractions (multiply by 100 for percent); θ is
the lattice rotation [rad].  The x and y axes are the detector's qx and qy
axes (array axes 0 and 1) unless a real/reciprocal rotation is calibrated
or ``coordinate_rotation`` is given.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np

from fcunet_lib import checks
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE
from fcunet_lib.disks import MAX_NUM_PEAKS, MIN_G_SPACING, MIN_RELATIVE_INTENSITY, _single_threaded_blas

__all__ = ["StrainResult", "strain_map", "calibrate_origin"]

#: Default largest distance of an indexed peak from its lattice point, as a
#: fraction of the shorter basis vector: half-way to the point where indexing
#: becomes ambiguous (|g|/2).
MAX_PEAK_SPACING_FRACTION = 0.25
#: Basis vectors closer than asin(0.1) ≈ 6° to parallel are rejected (Bragg-map
#: maxima of one row of spots are never exactly collinear).
_MIN_BASIS_SINE = 0.1


@dataclass
class StrainResult:
    """Strain over a scan (py4DSTEM's real-space convention, see module docstring).

    Attributes
    ----------
    e_xx, e_yy, e_xy : ndarray of shape (Rx, Ry)
        Strain components [fraction].
    theta : ndarray of shape (Rx, Ry)
        Lattice rotation [rad].
    mask : ndarray of bool, shape (Rx, Ry)
        Positions where the lattice fit succeeded; elsewhere values are not
        meaningful.
    g1, g2 : ndarray of shape (2,)
        Basis vectors chosen on the Bragg vector map [pixels, (qx, qy)].
    g1_ref, g2_ref : ndarray of shape (2,)
        Reference lattice the strain is measured against [pixels].
    strainmap : py4DSTEM StrainMap
        The underlying object, for py4DSTEM's plots and further analysis.
    """

    e_xx: np.ndarray
    e_yy: np.ndarray
    e_xy: np.ndarray
    theta: np.ndarray
    mask: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g1_ref: np.ndarray
    g2_ref: np.ndarray
    strainmap: object


def strain_map(
    bv,
    *,
    reference=None,
    origin=None,
    g1=None,
    g2=None,
    max_peak_spacing_px=None,
    mask=None,
    coordinate_rotation=0.0,
    max_num_directions=MAX_NUM_PEAKS,
):
    """Strain map from Bragg vectors (either finder's output, or py4DSTEM's).

    Parameters
    ----------
    bv : py4DSTEM BraggVectors
        Bragg vectors; their origin calibration and calibration state are set
        here (as py4DSTEM's own workflow does).
    reference : ndarray of bool (Rx, Ry) or (g1_ref, g2_ref), optional
        Reference lattice: the median fitted lattice over the ``True``
        positions, or two reciprocal vectors [pixels, (qx, qy)] (which then
        also choose the basis, unless ``g1``, ``g2`` are given). Default: the
        median over the whole scan.
    origin : None, "center", "measure" or (qx0, qy0)
        Direct-beam position [pixels]. ``None``: keep an existing origin
        calibration, else ``"measure"``. ``"center"``: the pattern centre
        (Qx//2, Qy//2), exact for simulated centred data. ``"measure"``:
        py4DSTEM ``measure_origin`` then a robust plane ``fit_origin``.
        A pair of numbers or (Rx, Ry) arrays is used as given.
    g1, g2 : (float, float), optional
        Approximate basis vectors [pixels, (qx, qy)]; the nearest maxima of
        the Bragg vector map are used. Default: chosen automatically (the
        two shortest non-parallel vectors).
    max_peak_spacing_px : float, optional
        Largest distance of a peak from its lattice point to be indexed
        [pixels]. Default :data:`MAX_PEAK_SPACING_FRACTION` × the shorter
        basis vector.
    mask : ndarray of bool (Rx, Ry), optional
        Positions to fit; default all.
    coordinate_rotation : float
        Rotate the x axis of the strain tensor counter-clockwise [degrees].
    max_num_directions : int
        Most Bragg directions (maxima of the Bragg vector map) indexed.

    Returns
    -------
    StrainResult

    Raises
    ------
    ValueError
        For malformed ``reference``, ``origin``, ``mask`` or basis vectors, or
        when no lattice can be found.
    """
    from py4DSTEM import BraggVectors, StrainMap

    if not isinstance(bv, BraggVectors):
        raise ValueError(f"bv must be py4DSTEM BraggVectors; got {type(bv).__name__}")
    reference_arg = _check_reference(reference, bv.Rshape)
    if isinstance(reference_arg, tuple) and g1 is None and g2 is None:
        g1, g2 = reference_arg  # the basis must be the one the reference vectors are written in
    if (g1 is None) != (g2 is None):
        raise ValueError("give both g1 and g2, or neither")
    g1, g2 = (None, None) if g1 is None else (_vector(g1, "g1"), _vector(g2, "g2"))
    fit_mask = None if mask is None else _check_mask(mask, bv.Rshape, "mask")
    calibrate_origin(bv, origin=origin)
    with _quiet_figures(), _single_threaded_blas():
        sm = StrainMap(braggvectors=bv)
        _choose_basis(sm, bv, g1, g2, max_num_directions)
        spacing = _max_peak_spacing(sm, max_peak_spacing_px)
        _drop_unindexable_directions(sm, spacing)
        sm.set_max_peak_spacing(spacing, returnfig=True)
        sm.fit_basis_vectors(mask=fit_mask)
        if not np.any(sm.mask):
            raise ValueError("the lattice fit failed at every position (too few indexed peaks)")
        sm.get_strain(gvects=reference_arg, coordinate_rotation=coordinate_rotation)
    return _result(sm, reference_arg)


def calibrate_origin(bv, *, origin=None):
    """Set the origin calibration of Bragg vectors and switch centring on.

    Parameters
    ----------
    bv : py4DSTEM BraggVectors
    origin : None, "center", "measure" or (qx0, qy0)
        As :func:`strain_map`.

    Returns
    -------
    qx0, qy0 : ndarray of shape (Rx, Ry)
        The origin at every position [pixels].
    """
    calibration = bv.calibration
    if origin is None:
        origin = "keep" if calibration.get_origin() is not None else "measure"
    if isinstance(origin, str):
        if origin == "center":
            calibration.set_origin(_origin_arrays((bv.Qshape[0] // 2, bv.Qshape[1] // 2), bv.Rshape))
        elif origin == "measure":
            with _quiet_figures():
                bv.measure_origin()
                bv.fit_origin(fitfunction="plane", robust=True, plot=False)
        elif origin != "keep":
            raise ValueError(f'origin must be None, "center", "measure" or (qx0, qy0); got {origin!r}')
    else:
        calibration.set_origin(_origin_arrays(origin, bv.Rshape))
    bv.setcal(center=True)
    qx0, qy0 = calibration.get_origin()
    return _origin_arrays((qx0, qy0), bv.Rshape)


# --------------------------------------------------------------------------- #
# Steps
# --------------------------------------------------------------------------- #
def _choose_basis(sm, bv, g1, g2, max_num_directions):
    """Pick g0, g1, g2 on the Bragg vector map, automatically or near the given vectors."""
    spacing = MIN_G_SPACING / _pixel_size(bv)
    options = dict(minSpacing=spacing, minRelativeIntensity=MIN_RELATIVE_INTENSITY,
                   edgeBoundary=1, maxNumPeaks=int(max_num_directions), returnfig=True)
    sm.choose_basis_vectors(**options)
    if len(sm.g) < 3:
        raise ValueError("fewer than three Bragg directions on the Bragg vector map; no lattice to fit")
    if g1 is not None:
        x0, y0 = sm.g0
        index_g1 = _nearest_maximum(sm.g, x0, y0, g1)
        index_g2 = _nearest_maximum(sm.g, x0, y0, g2)
        index_origin = int(np.argmin(np.hypot(sm.g["x"] - x0, sm.g["y"] - y0)))
        sm.choose_basis_vectors(index_origin=index_origin, index_g1=index_g1, index_g2=index_g2, **options)
    sine = (sm.g1[0] * sm.g2[1] - sm.g1[1] * sm.g2[0]) / (np.hypot(*sm.g1) * np.hypot(*sm.g2))
    if abs(sine) < _MIN_BASIS_SINE:
        raise ValueError(f"basis vectors g1={np.round(sm.g1, 3)} and g2={np.round(sm.g2, 3)} are (nearly) "
                         "parallel; give two independent lattice vectors")


def _vector(g, name):
    g = np.asarray(g, dtype=float)
    if g.shape != (2,) or not np.all(np.isfinite(g)) or not np.hypot(*g) > 0:
        raise ValueError(f"{name} must be a non-zero (qx, qy) vector [pixels]; got {g}")
    return g


def _nearest_maximum(maxima, x0, y0, g):
    return int(np.argmin(np.hypot(maxima["x"] - x0 - g[0], maxima["y"] - y0 - g[1])))


def _max_peak_spacing(sm, value):
    if value is None:
        return MAX_PEAK_SPACING_FRACTION * min(np.hypot(*sm.g1), np.hypot(*sm.g2))
    return checks.positive_number("max_peak_spacing_px", value, "pixels")


def _drop_unindexable_directions(sm, spacing):
    """Remove Bragg-map maxima that are far from their rounded lattice point.

    Such maxima (false peaks accumulated in the map) would otherwise be given
    wrong indices and pull the lattice fit.
    """
    directions = sm.braggdirections
    h, k = directions["g1_ind"], directions["g2_ind"]
    ideal_x = h * sm.g1[0] + k * sm.g2[0]
    ideal_y = h * sm.g1[1] + k * sm.g2[1]
    off = np.hypot(directions["qx"] - ideal_x, directions["qy"] - ideal_y) > spacing
    if np.any(off):
        directions.remove(off)


def _result(sm, reference_arg):
    from py4DSTEM.process.strain.latticevectors import get_reference_g1g2

    if isinstance(reference_arg, np.ndarray):
        g1_ref, g2_ref = get_reference_g1g2(sm.g1g2_map, np.logical_and(reference_arg, sm.mask))
    elif reference_arg is None:
        g1_ref, g2_ref = get_reference_g1g2(sm.g1g2_map, sm.mask)
    else:
        g1_ref, g2_ref = reference_arg
    fit_mask = sm.get_slice("mask").data.astype(bool) & sm.mask
    return StrainResult(
        e_xx=np.array(sm.get_slice("e_xx").data),
        e_yy=np.array(sm.get_slice("e_yy").data),
        e_xy=np.array(sm.get_slice("e_xy").data),
        theta=np.array(sm.get_slice("theta").data),
        mask=fit_mask,
        g1=np.asarray(sm.g1, float),
        g2=np.asarray(sm.g2, float),
        g1_ref=np.asarray(g1_ref, float),
        g2_ref=np.asarray(g2_ref, float),
        strainmap=sm,
    )


# --------------------------------------------------------------------------- #
# Validation and helpers
# --------------------------------------------------------------------------- #
def _check_reference(reference, rshape):
    if reference is None:
        return None
    if isinstance(reference, np.ndarray) and reference.dtype == bool:
        mask = _check_mask(reference, rshape, "reference")
        if not mask.any():
            raise ValueError("reference mask selects no scan position")
        return mask
    try:
        g1_ref, g2_ref = (np.asarray(g, dtype=float) for g in reference)
    except (TypeError, ValueError):
        g1_ref = g2_ref = None
    if g1_ref is None or g1_ref.shape != (2,) or g2_ref.shape != (2,):
        raise ValueError(
            f"reference must be a boolean mask of shape {tuple(rshape)} or two (qx, qy) vectors [pixels]")
    return g1_ref, g2_ref


def _check_mask(mask, rshape, name):
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != tuple(rshape):
        raise ValueError(f"{name} must be a boolean array of the scan shape {tuple(rshape)}; "
                         f"got {mask.dtype} {mask.shape}")
    return mask


def _origin_arrays(origin, rshape):
    try:
        qx0, qy0 = origin
        arrays = tuple(np.broadcast_to(np.asarray(q, dtype=float), rshape).copy() for q in (qx0, qy0))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"origin must be (qx0, qy0), numbers or arrays of the scan shape {tuple(rshape)}") from error
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError("origin contains NaN or infinite values")
    return arrays


def _pixel_size(bv):
    """Reciprocal pixel size of the vectors [1/Å]; the project's if uncalibrated."""
    calibration = bv.calibration
    if calibration.get_Q_pixel_units() == "A^-1" and calibration.get_Q_pixel_size() not in (None, 1):
        return float(calibration.get_Q_pixel_size())
    return RECIPROCAL_PIXEL_SIZE


@contextlib.contextmanager
def _quiet_figures():
    """Close the figures py4DSTEM draws on the way; mute its warnings about them."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Real to reciprocal space rotation not calibrated")
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="py4DSTEM")
        # a plane fit to origins that do not move at all has no covariance
        warnings.filterwarnings("ignore", message="Covariance of the parameters could not be estimated")
        try:
            yield
        finally:
            for number in set(plt.get_fignums()) - before:
                plt.close(number)
