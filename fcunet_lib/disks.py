"""Bragg disk detection: FCU-Net prediction + peaks, and the correlation baseline.

Both finders take a py4DSTEM ``DataCube`` or a 4D array ``[rx, ry, qx, qy]``
and a 2D vacuum probe, stream the scan in batches (memory bounded by one
batch), and return py4DSTEM ``BraggVectors`` in the *same* coordinates: raw
detector pixels, origin at the array corner, a centred pattern's origin at
``(N//2, N//2)`` — exactly py4DSTEM's raw vectors, so everything downstream
(``measure_origin``, ``StrainMap``, ...) works unchanged.

=============================  ===============================================
:func:`find_disks_fcunet`       network prediction of the structure-factor
                                image, maxima by ``get_maxima_2D``; intensity =
                                predicted amplitude ``|V_g|`` (model units),
                                MC-dropout spread ``intensity_std``
:func:`find_disks_correlation`  ``DataCube.find_Bragg_disks`` with a kernel
                                from ``Probe.get_kernel``; intensity = cross-
                                correlation peak height
:func:`tune_correlation`        grid search of the correlation options on
                                validation patterns (eq. (1) accuracy)
:func:`tune_fcunet_peaks`       the same for the peak options of the learned
                                finder (one prediction per pattern)
:func:`synthetic_lattice_scan`  flat disks on a known lattice, for tests,
                                benchmarks and notebooks
=============================  ===============================================

Peak options
------------
Extra keywords of the finders are py4DSTEM's own option names
(``minSpacing``/``minPeakSpacing``, ``edgeBoundary``, ``minRelativeIntensity``,
``sigma``, ``subpixel``, ``upsample_factor``, ...), in pixels of the grid the
peaks are found on.  Their defaults are derived from physics, not fixed pixel
counts (see :func:`fcunet_peak_options`, :func:`correlation_peak_options`):

* minimum spacing — :data:`MIN_G_SPACING` (0.1 Å⁻¹, twice the paper's
  matching radius; lattices with planes wider than 10 Å need less) in
  pixels; for correlation at least one probe radius, the half-width of a
  correlation peak;
* edge boundary — one probe radius (a disk centred closer to the edge is cut
  by it) plus one pixel for the 3×3 sub-pixel fit;
* intensity — relative to the brightest peak (the direct beam),
  :data:`MIN_RELATIVE_INTENSITY`;
* sub-pixel refinement — correlation: ``multicorr`` with
  :data:`UPSAMPLE_FACTOR` (the paper's 32); FCU-Net: a Gaussian fit matched to
  the targets' spot shape (see :func:`find_disks_fcunet`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fcunet_lib import checks, metrics, symmetry
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE
from fcunet_lib.progress import progress

__all__ = [
    "MIN_G_SPACING",
    "MIN_RELATIVE_INTENSITY",
    "MAX_NUM_PEAKS",
    "UPSAMPLE_FACTOR",
    "MAX_RESAMPLING",
    "DEFAULT_CORRELATION_GRID",
    "DEFAULT_FCUNET_GRID",
    "find_disks_fcunet",
    "find_disks_correlation",
    "fcunet_peak_options",
    "correlation_peak_options",
    "tune_correlation",
    "tune_fcunet_peaks",
    "probe_disk",
    "synthetic_lattice_pattern",
    "synthetic_lattice_scan",
    "SyntheticScan",
]

#: Smallest reciprocal-lattice spacing resolved by default [1/Å]: twice the
#: paper's 0.05 Å⁻¹ matching radius (real-space planes up to 10 Å).
MIN_G_SPACING = 0.1
#: Peaks weaker than this fraction of the brightest (the direct beam) are dropped.
MIN_RELATIVE_INTENSITY = 0.005
#: At most this many peaks per pattern.
MAX_NUM_PEAKS = 100
#: DFT upsampling of the sub-pixel refinement (``multicorr``): 1/32 px steps, as the paper.
UPSAMPLE_FACTOR = 32
#: Largest factor by which patterns are resampled to the model's pixel size.
MAX_RESAMPLING = 4.0

#: Pixel sizes within this relative difference count as equal (no resampling).
_SAME_PIXEL_SIZE = 1e-3

#: Default :func:`tune_correlation` grid (py4DSTEM option names, kernel choice).
DEFAULT_CORRELATION_GRID = {
    "kernel": ("flat", "sigmoid"),
    "sigma": (0.0, 1.0, 2.0),
    "minRelativeIntensity": (0.001, 0.005, 0.02),
}
#: Default :func:`tune_fcunet_peaks` grid (``get_maxima_2D`` option names): the
#: intensity threshold and a smoothing of the prediction before its maxima are taken.
#: (A first grid that stopped at 0.05 picked its largest threshold for the default
#: FCU-Net, so this one goes further; it picks 0.2 with smoothing, notebook 06.)
DEFAULT_FCUNET_GRID = {
    "minRelativeIntensity": (0.005, 0.02, 0.05, 0.1, 0.2),
    "sigma": (0.0, 1.0),
}

_MAXIMA_OPTIONS = (
    "subpixel", "upsample_factor", "sigma", "minAbsoluteIntensity", "minRelativeIntensity",
    "relativeToPeak", "minSpacing", "edgeBoundary", "maxNumPeaks",
)
_CORRELATION_OPTIONS = (
    "corrPower", "sigma", "sigma_dp", "subpixel", "upsample_factor", "minAbsoluteIntensity",
    "minRelativeIntensity", "relativeToPeak", "minPeakSpacing", "edgeBoundary", "maxNumPeaks",
    "filter_function",
)
_KERNELS = ("flat", "gaussian", "sigmoid", "sigmoid_log")
_FCUNET_SUBPIXEL = ("gaussian", "multicorr", "poly", "pixel")
_FCUNET_DTYPE = np.dtype(
    [("qx", np.float64), ("qy", np.float64), ("intensity", np.float64), ("intensity_std", np.float64)]
)
_CORRELATION_DTYPE = np.dtype([("qx", np.float64), ("qy", np.float64), ("intensity", np.float64)])


# --------------------------------------------------------------------------- #
# Public finders
# --------------------------------------------------------------------------- #
def find_disks_fcunet(
    data,
    probe,
    *,
    model=None,
    pixel_size,
    model_pixel_size=RECIPROCAL_PIXEL_SIZE,
    batch_size=32,
    mc_passes=1,
    mc_seed=0,
    symmetry_frames=1,
    **peak_options,
):
    """Find Bragg disks with FCU-Net (or any pattern → structure-factor model).

    Each pattern (and the probe, once) is resampled to the model's pixel size
    and cropped or zero-padded, centred, to its input size; the model
    predicts the structure-factor image; py4DSTEM's ``get_maxima_2D`` finds
    and filters its maxima, which are refined to sub-pixel precision and
    mapped back to the pattern's own pixels.

    Sub-pixel refinement: by default (``subpixel="gaussian"``) a Gaussian
    through the 3×3 pixels at each maximum (a parabola in log space), exact
    for the Gaussian spots the networks are trained to draw (σ = 0.75 px,
    :mod:`fcunet_lib.targets`), where py4DSTEM's ``multicorr`` errs by up to
    0.05 px on spots that narrow; ``"multicorr"``, ``"poly"`` and
    ``"pixel"`` run ``get_maxima_2D``'s own refinements instead. The
    intensity is always the fitted Gaussian's height.

    Parameters
    ----------
    data : DataCube or ndarray of shape (Rx, Ry, Qx, Qy)
        Diffraction patterns [counts], non-negative, centred at (Qx//2, Qy//2).
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe image [counts]; it is shifted (Fourier shift) so that its
        centre sits at (Qx//2, Qy//2) as the model expects.
    model : keras.Model or callable, optional
        A network with inputs ``[cbed [B,N,N,1], probe [B,N,N,1]]`` and output
        ``[B,N,N,1]``, or a plain callable with that signature. Default: the
        shipped ``"fcunet"`` model (``fcunet_lib.load_model("fcunet")``).
    pixel_size : float
        Reciprocal pixel size of ``data`` [1/Å].
    model_pixel_size : float
        Reciprocal pixel size the model was trained at [1/Å].
    batch_size : int
        Patterns per prediction batch (bounds memory).
    mc_passes : int
        Monte-Carlo dropout passes averaged per pattern; their per-pixel
        standard deviation at each peak is kept as ``intensity_std``.
    mc_seed : int
        Seed of the dropout masks: the same seed gives the same peaks
        (:func:`fcunet_lib.models.seed_mc_dropout`).
    symmetry_frames : {1, 2, 4, 8}
        Predict each pattern (with its probe) in this many symmetry frames
        about its centre — mirrored and rotated copies, each prediction mapped
        back — and average them (:mod:`fcunet_lib.symmetry`); 1 is the network
        alone. Costs ``mc_passes × symmetry_frames`` predictions per pattern;
        ``intensity_std`` is then the spread over all of them.
    **peak_options
        ``get_maxima_2D`` options in pixels of the model grid (``subpixel``
        also takes ``"gaussian"``, the default); defaults from
        :func:`fcunet_peak_options`.

    Returns
    -------
    BraggVectors
        Per scan position: ``qx, qy`` [pixels of ``data``], ``intensity``
        (predicted structure-factor amplitude in model units: the height of a
        Gaussian through the 3×3 pixels at the maximum, as the targets' spots
        are rendered) and
        ``intensity_std`` (its spread over the MC-dropout passes and symmetry
        frames; 0 for one pass in one frame).

    Raises
    ------
    ValueError
        For a wrong rank or shape, a probe of another shape, NaN or negative
        counts, a bad pixel size, unknown options, or patterns that would need
        resampling by more than :data:`MAX_RESAMPLING`.
    """
    scan = _Scan(data)
    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    batch_size = checks.positive_integer("batch_size", batch_size)
    grid, probe_model, options, model = _fcunet_setup(scan.qshape, probe, model, pixel_size, model_pixel_size,
                                                      peak_options, "find_disks_fcunet")
    vectors = _new_vectors(scan, _FCUNET_DTYPE)
    for rx, ry, mean, std in _fcunet_predictions(scan, model, grid, probe_model, mc_passes=mc_passes,
                                                 mc_seed=mc_seed, symmetry_frames=symmetry_frames,
                                                 batch_size=batch_size):
        with _single_threaded_blas():
            for i in range(len(mean)):
                vectors[rx[i], ry[i]].add(_fcunet_peaks_on_data(mean[i], std[i], options, grid))
    return _bragg_vectors(scan, vectors, pixel_size)


def find_disks_correlation(
    data,
    probe,
    *,
    pixel_size,
    kernel="sigmoid",
    kernel_radii=(1.0, 4.0),
    kernel_sigma=1.0,
    batch_size=64,
    **peak_options,
):
    """Find Bragg disks by template matching (py4DSTEM's cross correlation).

    The kernel is ``Probe(probe).get_kernel(mode=kernel, ...)`` centred on
    the probe's measured centre, so peaks land on the disk centres in pattern
    pixels; each batch is a small ``DataCube`` passed to
    ``DataCube.find_Bragg_disks`` (multicorr sub-pixel refinement).

    Parameters
    ----------
    data : DataCube or ndarray of shape (Rx, Ry, Qx, Qy)
        Diffraction patterns [counts], non-negative.
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe image [counts].
    pixel_size : float
        Reciprocal pixel size [1/Å] (sets the default spacing).
    kernel : {"sigmoid", "flat", "gaussian", "sigmoid_log"}
        Kernel mode of ``Probe.get_kernel``; ``"sigmoid"`` (the paper's)
        subtracts an annular trench so the kernel sums to zero.
    kernel_radii : (float, float)
        Inner and outer trench radii for the sigmoid kernels [probe radii].
    kernel_sigma : float
        Width of the subtracted Gaussian for ``"gaussian"`` [probe radii].
    batch_size : int
        Patterns per batch (bounds memory).
    **peak_options
        ``find_Bragg_disks`` options (pixels); defaults from
        :func:`correlation_peak_options`.

    Returns
    -------
    BraggVectors
        ``qx, qy`` [pixels], ``intensity`` = cross-correlation peak height.
    """
    options = _checked_options(peak_options, _CORRELATION_OPTIONS, "find_disks_correlation")
    return _run_correlation(_Scan(data), probe, pixel_size, kernel=kernel, kernel_radii=kernel_radii,
                            kernel_sigma=kernel_sigma, batch_size=batch_size, options=options,
                            show_progress=True)


def fcunet_peak_options(*, pixel_size, probe_radius):
    """Default ``get_maxima_2D`` options for a predicted structure-factor image.

    Parameters
    ----------
    pixel_size : float
        Pixel size of the prediction [1/Å].
    probe_radius : float
        Probe disk radius on that grid [pixels].

    Returns
    -------
    dict
        py4DSTEM option names → values (pixels).
    """
    return {
        "subpixel": "gaussian",
        "upsample_factor": UPSAMPLE_FACTOR,
        "sigma": 0,
        "minAbsoluteIntensity": 0,
        "minRelativeIntensity": MIN_RELATIVE_INTENSITY,
        "relativeToPeak": 0,
        "minSpacing": MIN_G_SPACING / pixel_size,
        "edgeBoundary": _edge_boundary(probe_radius),
        "maxNumPeaks": MAX_NUM_PEAKS,
    }


def correlation_peak_options(*, pixel_size, probe_radius):
    """Default ``find_Bragg_disks`` options for the correlation baseline.

    Parameters
    ----------
    pixel_size : float
        Pixel size of the patterns [1/Å].
    probe_radius : float
        Probe disk radius [pixels].

    Returns
    -------
    dict
        py4DSTEM option names → values (pixels).
    """
    return {
        "corrPower": 1.0,
        "sigma": 0.0,
        "subpixel": "multicorr",
        "upsample_factor": UPSAMPLE_FACTOR,
        "minAbsoluteIntensity": 0,
        "minRelativeIntensity": MIN_RELATIVE_INTENSITY,
        "relativeToPeak": 0,
        "minPeakSpacing": max(MIN_G_SPACING / pixel_size, probe_radius),
        "edgeBoundary": _edge_boundary(probe_radius),
        "maxNumPeaks": MAX_NUM_PEAKS,
    }


def probe_disk(probe):
    """Radius and centre of a vacuum probe disk (py4DSTEM ``Probe.measure_disk``).

    Parameters
    ----------
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe image.

    Returns
    -------
    radius, qx0, qy0 : float
        Disk radius and centre [pixels].
    """
    from py4DSTEM import Probe

    probe = np.asarray(probe, dtype=np.float64)
    radius, qx0, qy0 = Probe(probe).measure_disk(data=probe, plot=False)
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError("could not measure the probe disk; expected a bright disk on a dark field")
    return float(radius), float(qx0), float(qy0)


# --------------------------------------------------------------------------- #
# Tuning the baseline on validation data
# --------------------------------------------------------------------------- #
def tune_correlation(
    validation_patterns,
    true_peaks,
    probe,
    *,
    pixel_size,
    grid=None,
    match_radius=0.05,
    direct_beam=True,
):
    """Choose correlation options maximising the mean eq. (1) accuracy.

    Every combination of ``grid`` is run on the validation patterns, each
    pattern scored with :func:`~fcunet_lib.metrics.intensity_weighted_accuracy`
    against its true peaks, and the combination with the highest mean wins
    (the first in grid order on ties). Use validation patterns only — never
    the test patterns the comparison is reported on.

    Parameters
    ----------
    validation_patterns : ndarray of shape (n, Qx, Qy) or (Rx, Ry, Qx, Qy)
        Validation diffraction patterns [counts].
    true_peaks : sequence of peak arrays
        Ground-truth peaks per pattern (in C order of the scan for 4D input),
        positions in pixels of the patterns.
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe image.
    pixel_size : float
        Reciprocal pixel size [1/Å].
    grid : dict, optional
        Option name → candidate values; names are ``find_Bragg_disks`` options
        or ``kernel``, ``kernel_radii``, ``kernel_sigma``. Default
        :data:`DEFAULT_CORRELATION_GRID`.
    match_radius : float
        Matching radius of eq. (1) [1/Å].
    direct_beam : bool
        False: score the diffracted disks only, leaving out of both sets the
        peaks within ``match_radius`` of the pattern centre (the direct beam
        carries a large share of eq. (1)'s weight, so a finder that reports
        little else can score well with it).

    Returns
    -------
    dict
        ``best`` (options to pass as ``**best`` to
        :func:`find_disks_correlation`), ``score`` (its mean accuracy) and
        ``trials`` (list of ``(options, mean accuracy)`` in grid order).
    """
    patterns, true_flat = _validation_set(validation_patterns, true_peaks)
    grid = dict(DEFAULT_CORRELATION_GRID if grid is None else grid)
    allowed = _CORRELATION_OPTIONS + ("kernel", "kernel_radii", "kernel_sigma")
    _checked_options(grid, allowed, "tune_correlation grid")
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    trials = []
    scan = _Scan(patterns)
    for options in progress(combos, total=len(combos), desc="Tuning correlation", unit="trial"):
        kernel_options = {k: options[k] for k in ("kernel", "kernel_radii", "kernel_sigma") if k in options}
        peak_options = {k: v for k, v in options.items() if k not in kernel_options}
        bv = _run_correlation(scan, probe, pixel_size, **kernel_options, options=peak_options,
                              show_progress=False)
        found = [bv.raw[i, j].data for i in range(bv.Rshape[0]) for j in range(bv.Rshape[1])]
        scores = [_tuning_score(f, t, scan.qshape, pixel_size, match_radius, direct_beam)
                  for f, t in zip(found, true_flat)]
        trials.append((options, float(np.mean(scores))))
    best = max(range(len(trials)), key=lambda k: (trials[k][1], -k))
    return {"best": dict(trials[best][0]), "score": trials[best][1], "trials": trials}


def tune_fcunet_peaks(
    validation_patterns,
    true_peaks,
    probe,
    *,
    model=None,
    pixel_size,
    grid=None,
    match_radius=0.05,
    model_pixel_size=RECIPROCAL_PIXEL_SIZE,
    mc_passes=1,
    mc_seed=0,
    symmetry_frames=1,
    batch_size=32,
    direct_beam=True,
):
    """Choose the peak options of :func:`find_disks_fcunet` maximising eq. (1) accuracy.

    The counterpart of :func:`tune_correlation` for the learned finder, so
    that both finders are compared at their best: the model predicts every
    validation pattern once, then every combination of ``grid`` reads peaks
    from those predictions, each pattern is scored with
    :func:`~fcunet_lib.metrics.intensity_weighted_accuracy` against its true
    peaks, and the combination with the highest mean wins (the first in grid
    order on ties). Use validation patterns only.

    Parameters
    ----------
    validation_patterns : ndarray of shape (n, Qx, Qy) or (Rx, Ry, Qx, Qy)
        Validation diffraction patterns [counts].
    true_peaks : sequence of peak arrays
        Ground-truth peaks per pattern (C order of the scan for 4D input),
        positions in pixels of the patterns.
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe image.
    model : keras.Model or callable, optional
        As :func:`find_disks_fcunet` (default the shipped ``"fcunet"``).
    pixel_size : float
        Reciprocal pixel size of the patterns [1/Å].
    grid : dict, optional
        ``get_maxima_2D`` option name → candidate values (pixels of the model
        grid). Default :data:`DEFAULT_FCUNET_GRID`.
    match_radius : float
        Matching radius of eq. (1) [1/Å].
    model_pixel_size, mc_passes, mc_seed, symmetry_frames, batch_size
        As :func:`find_disks_fcunet`.
    direct_beam : bool
        As :func:`tune_correlation`: False scores the diffracted disks only.

    Returns
    -------
    dict
        ``best`` (options to pass as ``**best`` to :func:`find_disks_fcunet`),
        ``score`` (its mean accuracy) and ``trials`` (list of
        ``(options, mean accuracy)`` in grid order).
    """
    patterns, true_flat = _validation_set(validation_patterns, true_peaks)
    scan = _Scan(patterns)
    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    batch_size = checks.positive_integer("batch_size", batch_size)
    grid = dict(DEFAULT_FCUNET_GRID if grid is None else grid)
    _checked_options(grid, _MAXIMA_OPTIONS, "tune_fcunet_peaks grid")
    model_grid, probe_model, defaults, model = _fcunet_setup(scan.qshape, probe, model, pixel_size,
                                                             model_pixel_size, {}, "tune_fcunet_peaks")
    predictions = [(mean, std) for _, _, means, stds in
                   _fcunet_predictions(scan, model, model_grid, probe_model, mc_passes=mc_passes,
                                       mc_seed=mc_seed, symmetry_frames=symmetry_frames, batch_size=batch_size)
                   for mean, std in zip(means, stds)]
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    trials = []
    with _single_threaded_blas():
        for options in progress(combos, total=len(combos), desc="Tuning FCU-Net peaks", unit="trial"):
            merged = {**defaults, **options}  # the grid's names and values were checked above
            scores = [_tuning_score(_fcunet_peaks_on_data(mean, std, merged, model_grid), truth, scan.qshape,
                                    pixel_size, match_radius, direct_beam)
                      for (mean, std), truth in zip(predictions, true_flat)]
            trials.append((options, float(np.mean(scores))))
    best = max(range(len(trials)), key=lambda k: (trials[k][1], -k))
    return {"best": dict(trials[best][0]), "score": trials[best][1], "trials": trials}


def _validation_set(validation_patterns, true_peaks):
    """The tuners' inputs checked: patterns as a 4D scan, true peaks as a flat list, one per pattern."""
    patterns = np.asarray(validation_patterns)
    if patterns.ndim == 3:
        patterns = patterns[None]
    if patterns.ndim != 4:
        raise ValueError(f"validation_patterns must be (n, Qx, Qy) or (Rx, Ry, Qx, Qy); got {patterns.shape}")
    if isinstance(true_peaks, np.ndarray) and true_peaks.dtype == object:
        true_flat = list(true_peaks.reshape(-1))
    else:
        true_flat = list(true_peaks)
    n_patterns = patterns.shape[0] * patterns.shape[1]
    if len(true_flat) != n_patterns:
        raise ValueError(f"need one true peak array per pattern: {n_patterns} patterns, "
                         f"{len(true_flat)} peak arrays")
    return patterns, true_flat


def _tuning_score(found, true, qshape, pixel_size, match_radius, direct_beam):
    """Eq. (1) accuracy of one pattern for the tuners, with or without the direct beam."""
    if not direct_beam:
        centre = (qshape[0] // 2, qshape[1] // 2)
        found, true = (metrics.without_direct_beam(peaks, centre, pixel_size=pixel_size, radius=match_radius)
                       for peaks in (found, true))
    return metrics.pattern_accuracy(found, true, pixel_size=pixel_size, match_radius=match_radius)


# --------------------------------------------------------------------------- #
# Synthetic disk lattices (tests, benchmarks, notebooks)
# --------------------------------------------------------------------------- #
@dataclass
class SyntheticScan:
    """A synthetic 4D-STEM scan with its ground truth.

    Attributes
    ----------
    data : ndarray of shape (Rx, Ry, N, N)
        Patterns [arbitrary counts].
    probe : ndarray of shape (N, N)
        Vacuum probe, centred at (N//2, N//2).
    peaks : ndarray of object, shape (Rx, Ry)
        True disk centres per position, ``(n, 3)`` arrays of
        ``(qx, qy, intensity)`` [pixels, disk amplitude].
    """

    data: np.ndarray
    probe: np.ndarray
    peaks: np.ndarray


def synthetic_lattice_pattern(size, *, g1, g2, probe_radius, origin=None, envelope=None):
    """Flat, anti-aliased disks on a 2D reciprocal lattice.

    Parameters
    ----------
    size : int
        Pattern side N [pixels].
    g1, g2 : (float, float)
        Reciprocal basis vectors (qx, qy) [pixels].
    probe_radius : float
        Disk radius [pixels].
    origin : (float, float), optional
        Direct-beam position [pixels]; default (N//2, N//2).
    envelope : float, optional
        Disk amplitude falls off as ``exp(-(|g|/envelope)**2)`` [pixels];
        default N/4. The direct beam has amplitude 1.

    Returns
    -------
    pattern : ndarray of shape (N, N)
    peaks : ndarray of shape (n, 3)
        ``(qx, qy, amplitude)`` of every disk wholly inside the pattern.
    """
    origin = (size // 2, size // 2) if origin is None else origin
    envelope = size / 4 if envelope is None else envelope
    g1, g2 = np.asarray(g1, float), np.asarray(g2, float)
    reach = int(np.ceil(size / min(np.linalg.norm(g1), np.linalg.norm(g2)))) + 1
    qx, qy = np.mgrid[:size, :size].astype(np.float64)
    pattern = np.zeros((size, size))
    peaks = []
    for h, k in itertools.product(range(-reach, reach + 1), repeat=2):
        cx, cy = origin + h * g1 + k * g2
        inside = probe_radius <= min(cx, cy) and max(cx, cy) <= size - 1 - probe_radius
        if not inside:
            continue
        amplitude = math.exp(-((h * g1 + k * g2) @ (h * g1 + k * g2)) / envelope**2)
        pattern += amplitude * _disk(qx, qy, cx, cy, probe_radius)
        peaks.append((cx, cy, amplitude))
    return pattern, np.asarray(peaks).reshape(-1, 3)


def synthetic_lattice_scan(scan_shape, *, size=64, g1=(12.0, 0.0), g2=(0.0, 12.0), probe_radius=3.0,
                           counts=1000.0, envelope=None):
    """A scan of synthetic disk lattices, the lattice free to vary per position.

    Parameters
    ----------
    scan_shape : (int, int)
        (Rx, Ry) probe positions.
    size : int
        Pattern side N [pixels].
    g1, g2 : array_like of shape (2,) or (Rx, Ry, 2)
        Reciprocal basis vectors [pixels], the same everywhere or per position.
    probe_radius : float
        Disk radius [pixels].
    counts : float
        Direct-beam counts per pixel.
    envelope : float, optional
        As :func:`synthetic_lattice_pattern`.

    Returns
    -------
    SyntheticScan
    """
    rx_n, ry_n = scan_shape
    g1 = np.broadcast_to(np.asarray(g1, float), (rx_n, ry_n, 2))
    g2 = np.broadcast_to(np.asarray(g2, float), (rx_n, ry_n, 2))
    data = np.zeros((rx_n, ry_n, size, size), np.float32)
    peaks = np.empty((rx_n, ry_n), dtype=object)
    for i, j in np.ndindex(rx_n, ry_n):
        pattern, found = synthetic_lattice_pattern(
            size, g1=g1[i, j], g2=g2[i, j], probe_radius=probe_radius, envelope=envelope)
        data[i, j] = counts * pattern
        peaks[i, j] = found
    qx, qy = np.mgrid[:size, :size].astype(np.float64)
    probe = (counts * _disk(qx, qy, size // 2, size // 2, probe_radius)).astype(np.float32)
    return SyntheticScan(data=data, probe=probe, peaks=peaks)


def _disk(qx, qy, cx, cy, radius):
    """Flat disk with a one-pixel linear edge (area-preserving anti-aliasing)."""
    return np.clip(radius + 0.5 - np.hypot(qx - cx, qy - cy), 0.0, 1.0)


# --------------------------------------------------------------------------- #
# Scan access, validation
# --------------------------------------------------------------------------- #
class _Scan:
    """A DataCube or 4D array read in validated batches of patterns."""

    def __init__(self, data):
        self.calibration = None
        if hasattr(data, "calibration") and hasattr(data, "data") and hasattr(data, "Rshape"):
            self.calibration = data.calibration
            data = data.data
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) != 4:
            raise ValueError(
                "data must be a py4DSTEM DataCube or a 4D array [rx, ry, qx, qy]; "
                f"got {type(data).__name__} of shape {shape}")
        if min(shape) < 1:
            raise ValueError(f"data must not be empty; got shape {shape}")
        self.data = data
        self.rshape = tuple(int(n) for n in shape[:2])
        self.qshape = tuple(int(n) for n in shape[2:])

    def n_batches(self, batch_size):
        return math.ceil(self.rshape[0] * self.rshape[1] / batch_size)

    def batches(self, batch_size):
        """Yield ``(rx, ry, patterns)`` with patterns float32 ``[B, Qx, Qy]``."""
        total = self.rshape[0] * self.rshape[1]
        for start in range(0, total, batch_size):
            flat = np.arange(start, min(start + batch_size, total))
            rx, ry = np.unravel_index(flat, self.rshape)
            patterns = np.stack([np.asarray(self.data[i, j], dtype=np.float32) for i, j in zip(rx, ry)])
            _check_counts(patterns, f"data at scan positions {start}..{flat[-1]} (C order)")
            yield rx, ry, patterns


def _check_counts(array, what):
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite values; expected finite counts")
    if array.min() < 0:
        raise ValueError(f"{what} has negative values (min {array.min():.3g}); expected non-negative counts")


def _check_probe(probe, qshape):
    probe = np.asarray(probe, dtype=np.float64)
    if probe.ndim != 2:
        raise ValueError(f"probe must be a 2D vacuum-probe image (Qx, Qy); got shape {probe.shape}")
    if probe.shape != tuple(qshape):
        raise ValueError(f"probe shape {probe.shape} must match the pattern shape {tuple(qshape)}")
    _check_counts(probe, "probe")
    if not probe.max() > 0:
        raise ValueError("probe is all zeros; expected a vacuum-probe image with a bright disk")
    return probe


def _checked_options(options, allowed, where):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; expected some of {sorted(allowed)}")
    for name in ("edgeBoundary", "maxNumPeaks", "upsample_factor", "relativeToPeak"):
        values = options.get(name, 0)
        for value in values if isinstance(values, (list, tuple)) else (values,):
            if not checks.is_integer(value) or value < 0:
                raise ValueError(f"{where}: {name} must be a non-negative integer; got {value!r}")
    return dict(options)


def _single_threaded_blas():
    """One BLAS thread for the sub-pixel refinement.

    ``multicorr`` runs two small matrix products per peak (≈ 48 × N); a
    threaded BLAS only adds overhead there, and on a busy machine it was
    measured 20× slower (8 ms vs 0.4 ms per peak at N = 128, 2 shared cores).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with py4DSTEM
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _edge_boundary(probe_radius):
    return int(math.ceil(probe_radius)) + 1


def _new_vectors(scan, dtype):
    from emdfile import PointListArray

    return PointListArray(dtype=dtype, shape=scan.rshape, name="_v_uncal")


def _bragg_vectors(scan, vectors, pixel_size):
    from py4DSTEM import BraggVectors

    calibration = scan.calibration
    bv = BraggVectors(scan.rshape, scan.qshape, calibration=calibration)
    if calibration is None:
        bv.calibration.set_Q_pixel_size(pixel_size)
        bv.calibration.set_Q_pixel_units("A^-1")
    bv.set_raw_vectors(vectors)
    return bv


# --------------------------------------------------------------------------- #
# FCU-Net path
# --------------------------------------------------------------------------- #
def _default_model():
    from fcunet_lib.model_store import load_model

    return load_model("fcunet")  # raises naming the missing or damaged file


def _is_keras_model(model):
    return hasattr(model, "predict") and hasattr(model, "inputs")


def _model_input_shape(model):
    if _is_keras_model(model):
        shape = tuple(model.inputs[0].shape[1:3])
        if None not in shape:
            return tuple(int(n) for n in shape)
    return None


def _predictor(model, *, mc_passes, symmetry_frames, batch_size):
    """``predict(patterns [B,N,N], probe [N,N]) -> (mean, std)``, each ``[B,N,N]``.

    Mean and standard deviation over ``mc_passes`` passes in each of
    ``symmetry_frames`` frames (:mod:`fcunet_lib.symmetry`), every pass mapped
    back to the pattern's own frame.

    Keras models run ``predict_on_batch`` on batches zero-padded to
    ``batch_size``, so the compiled function is traced once per scan (with
    Monte-Carlo dropout switched on for the whole scan when ``mc_passes > 1``,
    see :func:`_mc_context`), not once per batch as repeated ``predict`` calls
    would.
    """
    if _is_keras_model(model):
        def forward(inputs):
            n = len(inputs[0])
            padded = [np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)]) for x in inputs]
            return np.asarray(model.predict_on_batch(padded))[:n]
    elif callable(model):
        def forward(inputs):
            return np.asarray(model(inputs))
    else:
        raise ValueError(f"model must be a Keras model or a callable; got {type(model).__name__}")

    def predict(patterns, probe):
        cbed = patterns[..., None].astype(np.float32)
        probes = np.repeat(probe[None, ..., None].astype(np.float32), len(patterns), axis=0)
        passes = []
        for frame in symmetry.frames(symmetry_frames):
            seen = [np.ascontiguousarray(frame.apply(cbed)), np.ascontiguousarray(frame.apply(probes))]
            for _ in range(mc_passes):
                out = np.asarray(forward(seen), np.float64)
                if out.shape != cbed.shape:
                    raise ValueError(f"model output shape {out.shape} must equal its input shape {cbed.shape}")
                passes.append(frame.undo(out))
        passes = np.stack(passes)
        return passes.mean(axis=0)[..., 0], passes.std(axis=0)[..., 0]

    return predict


def _mc_context(model, mc_passes, seed):
    """Monte-Carlo dropout on (reseeded) for the scan (Keras models of this project), else a no-op."""
    if mc_passes > 1 and _is_keras_model(model):
        from fcunet_lib.models import mc_dropout

        return mc_dropout(model, seed=seed)
    return contextlib.nullcontext()


def _fcunet_setup(qshape, probe, model, pixel_size, model_pixel_size, peak_options, where):
    """Check the inputs of the FCU-Net path; the model grid, the probe on it, the peak options, the model."""
    probe = _check_probe(probe, qshape)
    model_pixel_size = checks.reciprocal_pixel_size("model_pixel_size", model_pixel_size)
    model = _default_model() if model is None else model
    grid = _ModelGrid(qshape, pixel_size, model_pixel_size, _model_input_shape(model))
    probe_model = grid.to_model(_centred_probe(probe)[None])[0]
    radius, _, _ = probe_disk(probe_model)
    options = {**fcunet_peak_options(pixel_size=model_pixel_size, probe_radius=radius),
               **_checked_options(peak_options, _MAXIMA_OPTIONS, where)}
    if options["subpixel"] not in _FCUNET_SUBPIXEL:
        raise ValueError(f"subpixel must be one of {_FCUNET_SUBPIXEL}; got {options['subpixel']!r}")
    return grid, probe_model, options, model


def _fcunet_predictions(scan, model, grid, probe_model, *, mc_passes, mc_seed, symmetry_frames, batch_size):
    """Yield ``(rx, ry, mean, std)`` per batch: the model's predictions ``[B, N, N]`` on the model grid."""
    mc_passes = checks.positive_integer("mc_passes", mc_passes)
    symmetry_frames = symmetry.check_frame_count(symmetry_frames)
    predict = _predictor(model, mc_passes=mc_passes, symmetry_frames=symmetry_frames, batch_size=batch_size)
    batches = progress(scan.batches(batch_size), total=scan.n_batches(batch_size),
                       desc="FCU-Net disks", unit="batch")
    with _mc_context(model, mc_passes, mc_seed):
        for rx, ry, patterns in batches:
            mean, std = predict(grid.to_model(patterns), probe_model)
            yield rx, ry, mean, std


def _fcunet_peaks_on_data(image, spread, options, grid):
    """:func:`_fcunet_peaks` of one prediction, positions mapped back to the data's pixels."""
    peaks = _fcunet_peaks(image, spread, options)
    peaks["qx"], peaks["qy"] = grid.to_data(peaks["qx"], peaks["qy"])
    return peaks


def _fcunet_peaks(image, spread, options):
    """Peaks of one predicted structure-factor image ``[N, N]`` (model grid)."""
    from py4DSTEM.process.utils import get_maxima_2D

    subpixel = options["subpixel"]
    maxima = get_maxima_2D(image, **{**options, "subpixel": "pixel" if subpixel == "gaussian" else subpixel})
    maxima = maxima[maxima["intensity"] > 0]  # structure-factor amplitudes are non-negative
    peaks = np.zeros(len(maxima), _FCUNET_DTYPE)
    if len(peaks) == 0:
        return peaks
    i, j = np.round(maxima["x"]).astype(int), np.round(maxima["y"]).astype(int)
    dx, dy, height = _gaussian_fit(image, i, j)
    if subpixel == "gaussian":
        peaks["qx"], peaks["qy"] = i + dx, j + dy
    else:
        peaks["qx"], peaks["qy"] = maxima["x"], maxima["y"]
    peaks["intensity"] = height
    peaks["intensity_std"] = ndimage.map_coordinates(spread, [peaks["qx"], peaks["qy"]], order=1)
    return peaks


def _gaussian_fit(image, i, j):
    """Sub-pixel offset and height of a Gaussian through the 3×3 pixels at (i, j).

    The targets are Gaussian spots (σ = 0.75 px) whose peak value is
    ``|V_g|``. The logarithm of a Gaussian is a parabola, so three pixels per
    axis give its centre and height exactly at any sub-pixel position — where
    ``multicorr`` errs by up to 0.05 px on such narrow spots (the DFT
    interpolation of an under-sampled peak) and ``get_maxima_2D``'s bilinear
    value reads up to a third low. Where a pixel is not positive the fit falls
    back to a parabola on the values themselves (py4DSTEM's ``poly``).

    Returns
    -------
    dx, dy, height : ndarray
        Offsets from (i, j) [pixels] and peak heights.
    """
    i = np.clip(i, 1, image.shape[0] - 2)
    j = np.clip(j, 1, image.shape[1] - 2)
    centre = image[i, j].astype(np.float64)
    dx, gain_x = _three_point(image[i - 1, j], centre, image[i + 1, j])
    dy, gain_y = _three_point(image[i, j - 1], centre, image[i, j + 1])
    return dx, dy, centre * gain_x * gain_y


def _three_point(low, centre, high):
    """Vertex offset and height gain (vertex / centre) of a 3-point parabola per peak.

    In log space where all three values are positive (a Gaussian), else in
    linear space; a flat or convex triple keeps the centre pixel.
    """
    low, high = low.astype(np.float64), high.astype(np.float64)
    offset, gain = np.zeros_like(centre), np.ones_like(centre)
    positive = (low > 0) & (centre > 0) & (high > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b, c = (np.log(np.where(positive, v, 1.0)) for v in (low, centre, high))
        curvature = a - 2 * b + c
        use_log = positive & (curvature < 0)
        offset = np.where(use_log, (a - c) / (2 * curvature), offset)
        gain = np.where(use_log, np.exp(-((a - c) ** 2) / (8 * curvature)), gain)
        curvature = low - 2 * centre + high
        use_linear = ~use_log & (curvature < 0) & (centre > 0)
        offset = np.where(use_linear, (low - high) / (2 * curvature), offset)
        gain = np.where(use_linear, 1 - (low - high) ** 2 / (8 * curvature * centre), gain)
    return offset, gain


def _centred_probe(probe):
    """Fourier-shift the probe so its disk centre is at (N//2, N//2)."""
    _, qx0, qy0 = probe_disk(probe)
    shift = np.array([probe.shape[0] // 2 - qx0, probe.shape[1] // 2 - qy0])
    if np.all(np.abs(shift) < 1e-3):
        return probe
    kx = np.fft.fftfreq(probe.shape[0])[:, None]
    ky = np.fft.fftfreq(probe.shape[1])[None, :]
    phase = np.exp(-2j * np.pi * (kx * shift[0] + ky * shift[1]))
    return np.clip(np.fft.ifft2(np.fft.fft2(probe) * phase).real, 0.0, None)


class _ModelGrid:
    """Maps patterns between the data grid and the model's (pixel size, size), centred.

    A point at data pixel ``x`` sits at ``u = c_m + (x - c_d) * zoom`` on the
    model grid, with ``zoom = pixel_size / model_pixel_size`` and centres
    ``c = N // 2``.
    """

    def __init__(self, qshape, pixel_size, model_pixel_size, model_shape):
        self.zoom = pixel_size / model_pixel_size
        if abs(self.zoom - 1) < _SAME_PIXEL_SIZE:
            self.zoom = 1.0
        if not 1 / MAX_RESAMPLING <= self.zoom <= MAX_RESAMPLING:
            raise ValueError(
                f"patterns at {pixel_size:.4g} 1/Å per pixel would need resampling by {self.zoom:.3g} to "
                f"the model's {model_pixel_size:.4g} 1/Å; beyond a factor {MAX_RESAMPLING:g} the disks "
                "no longer look like the training data. Bin or crop the data first.")
        self.qshape = tuple(qshape)
        self.shape = tuple(model_shape) if model_shape is not None else self._natural_shape()
        self.centre_data = np.array([n // 2 for n in self.qshape], float)
        self.centre_model = np.array([n // 2 for n in self.shape], float)
        self.identity = self.zoom == 1 and self.shape == self.qshape

    def _natural_shape(self):
        return tuple(int(round(n * self.zoom)) for n in self.qshape)

    def to_model(self, patterns):
        """Resample ``[B, Qx, Qy]`` data patterns onto the model grid ``[B, N, N]``."""
        if self.identity:
            return patterns
        if self.zoom == 1:
            return np.stack([self._crop_or_pad(p) for p in patterns])
        return np.stack([self._resample(p) for p in patterns])

    def to_data(self, u, v):
        """Model-grid pixel coordinates → data pixel coordinates."""
        x = self.centre_data[0] + (np.asarray(u) - self.centre_model[0]) / self.zoom
        y = self.centre_data[1] + (np.asarray(v) - self.centre_model[1]) / self.zoom
        return x, y

    def _crop_or_pad(self, pattern):
        out = np.zeros(self.shape, pattern.dtype)
        offset = (self.centre_model - self.centre_data).astype(int)
        src = [slice(max(0, -o), min(n_in, n_out - o))
               for o, n_in, n_out in zip(offset, self.qshape, self.shape)]
        dst = [slice(s.start + o, s.stop + o) for s, o in zip(src, offset)]
        out[tuple(dst)] = pattern[tuple(src)]
        return out

    def _resample(self, pattern):
        if self.zoom < 1:  # anti-alias before shrinking, as skimage's rescale
            pattern = ndimage.gaussian_filter(pattern, (1 / self.zoom - 1) / 2)
        u, v = np.mgrid[: self.shape[0], : self.shape[1]].astype(np.float64)
        x, y = self.to_data(u, v)
        # counts per pixel scale with pixel area
        resampled = ndimage.map_coordinates(pattern, [x, y], order=1, cval=0.0) / self.zoom**2
        return resampled.astype(np.float32)


# --------------------------------------------------------------------------- #
# Correlation path
# --------------------------------------------------------------------------- #
def _run_correlation(scan, probe, pixel_size, *, kernel="sigmoid", kernel_radii=(1.0, 4.0),
                     kernel_sigma=1.0, batch_size=64, options, show_progress):
    probe = _check_probe(probe, scan.qshape)
    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    batch_size = checks.positive_integer("batch_size", batch_size)
    template, radius = _correlation_kernel(probe, kernel, kernel_radii, kernel_sigma)
    options = {**correlation_peak_options(pixel_size=pixel_size, probe_radius=radius), **options}
    vectors = _new_vectors(scan, _CORRELATION_DTYPE)
    batches = scan.batches(batch_size)
    if show_progress:
        batches = progress(batches, total=scan.n_batches(batch_size), desc="Correlation disks",
                           unit="batch")
    for rx, ry, patterns in batches:
        with _single_threaded_blas():
            for i, peaks in enumerate(_correlation_batch(patterns, template, options)):
                vectors[rx[i], ry[i]].add(peaks)
    return _bragg_vectors(scan, vectors, pixel_size)


def _correlation_kernel(probe, kernel, kernel_radii, kernel_sigma):
    from py4DSTEM import Probe

    if kernel not in _KERNELS:
        raise ValueError(f"kernel must be one of {_KERNELS}; got {kernel!r}")
    radius, qx0, qy0 = probe_disk(probe)
    kwargs = {}
    if kernel in ("sigmoid", "sigmoid_log"):
        inner, outer = (float(r) * radius for r in kernel_radii)
        if not 0 <= inner < outer:
            raise ValueError(
                f"kernel_radii must be (inner, outer) with 0 <= inner < outer [probe radii]; got {kernel_radii}")
        kwargs["radii"] = (inner, outer)
    elif kernel == "gaussian":
        kwargs["sigma"] = float(kernel_sigma) * radius
    template = Probe(probe).get_kernel(mode=kernel, origin=(qx0, qy0), **kwargs)
    return template, radius


def _correlation_batch(patterns, template, options):
    """Peaks of each pattern of ``[B, Qx, Qy]`` via ``DataCube.find_Bragg_disks``."""
    from py4DSTEM import DataCube

    batch = DataCube(data=patterns[None])
    found = batch.find_Bragg_disks(
        template=template, data=(np.zeros(len(patterns), int), np.arange(len(patterns))), **options)
    found = found if isinstance(found, list) else [found]
    for qpoints in found:
        peaks = np.zeros(len(qpoints.data), _CORRELATION_DTYPE)
        peaks["qx"], peaks["qy"], peaks["intensity"] = qpoints.qx, qpoints.qy, qpoints.data["intensity"]
        yield peaks
