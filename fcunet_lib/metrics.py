"""Evaluation metrics of the paper: SSIM (Table I) and intensity-weighted accuracy (eq. 1).

Structure-factor images
-----------------------
:func:`ssim` compares a predicted and a true structure-factor image with
scikit-image's SSIM after scaling *both* by the maximum of the true image, so
the true image spans ``[0, 1]`` and ``data_range`` defaults to 1.  The
prediction keeps its own scale relative to the truth: a network that gets the
amplitudes wrong by a factor loses SSIM, as it should.

Intensity-weighted accuracy, eq. (1)
------------------------------------
The paper defines ``accuracy = TP_int / (TP_int + FP_int + FN_int)`` with

* ``TP_int`` = (intensity of the predicted peaks that match a true peak) /
  (intensity of all predicted peaks),
* ``FP_int`` = (intensity of the predicted peaks that match none) /
  (intensity of all predicted peaks),
* ``FN_int`` = (intensity of the true peaks that no prediction matches) /
  (intensity of all true peaks).

Reading: the printed definition of ``TP_int`` ("sum of true peak intensities
over sum of predicted peak intensities") is taken as the *true-positive*
predicted peaks over all predicted peaks — the only reading in which each
term is a fraction of one set's own intensity, so that predictions in
arbitrary units (correlation scores, network amplitudes) can be compared
with ground-truth ``|V_g|``.  Then ``TP_int + FP_int = 1`` and
``accuracy = TP_int / (1 + FN_int)``: 1 for a perfect detection, 0 when
nothing matches.  Each missed or false peak costs in proportion to its share
of its own set's intensity, so a missed weak reflection costs little and a
missed strong one a lot.

Matching is one-to-one and greedy "in order of peak pair distance": all
(predicted, true) pairs closer than ``match_radius`` (0.05 Å⁻¹ in the paper,
pixel 0.0217 Å⁻¹) are visited from the closest up, and a pair is accepted
when neither peak is taken yet.

Peaks are given in pixels (any common origin), as a structured array with
fields ``qx, qy, intensity`` (or ``x, y, intensity`` as py4DSTEM's
``get_maxima_2D`` returns), as an ``(n, 3)`` array of ``(qx, qy, intensity)``,
or as a py4DSTEM ``PointList``/``QPoints``/``BVects`` (anything with ``.data``).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

__all__ = [
    "PAPER_MATCH_RADIUS",
    "ssim",
    "mean_ssim",
    "match_peaks",
    "intensity_weighted_accuracy",
    "pattern_accuracy",
    "as_peak_array",
    "without_direct_beam",
    "radial_displacements",
]

#: Matching radius of the paper's eq. (1) [1/Å].
PAPER_MATCH_RADIUS = 0.05


# --------------------------------------------------------------------------- #
# SSIM of structure-factor images
# --------------------------------------------------------------------------- #
def ssim(pred, true, *, data_range=None):
    """Structural similarity of a predicted and a true structure-factor image.

    Both images are divided by ``true.max()`` before scikit-image's
    ``structural_similarity`` (7×7 uniform window, its defaults) is applied.

    Parameters
    ----------
    pred, true : ndarray of shape (Qx, Qy) or (Qx, Qy, 1)
        Predicted and ground-truth structure-factor images (same units).
    data_range : float, optional
        Dynamic range passed to SSIM, in units of ``true.max()``; default 1
        (the range of a non-negative true image after scaling).

    Returns
    -------
    float
        SSIM in [-1, 1]; 1 for identical images.

    Raises
    ------
    ValueError
        On shape mismatch, non-2D images, non-finite values, or a true image
        whose maximum is not positive.
    """
    pred = _image2d(pred, "pred")
    true = _image2d(true, "true")
    if pred.shape != true.shape:
        raise ValueError(f"pred and true must have the same shape; got {pred.shape} and {true.shape}")
    scale = float(true.max())
    if not scale > 0:
        raise ValueError("true image must have a positive maximum (structure factors are non-negative)")
    data_range = 1.0 if data_range is None else float(data_range)
    if not data_range > 0:
        raise ValueError(f"data_range must be positive; got {data_range}")
    return float(structural_similarity(pred / scale, true / scale, data_range=data_range))


def mean_ssim(preds, trues, *, data_range=None):
    """Mean :func:`ssim` over a batch of image pairs (the number of Table I).

    Parameters
    ----------
    preds, trues : ndarray of shape (B, Qx, Qy) or (B, Qx, Qy, 1)
        Predicted and ground-truth structure-factor images.
    data_range : float, optional
        As :func:`ssim`.

    Returns
    -------
    float
        The mean SSIM over the batch.
    """
    preds, trues = np.asarray(preds), np.asarray(trues)
    if preds.shape != trues.shape or preds.ndim not in (3, 4) or len(preds) == 0:
        raise ValueError(
            "preds and trues must be non-empty batches of the same shape (B, Qx, Qy[, 1]); "
            f"got {preds.shape} and {trues.shape}"
        )
    return float(np.mean([ssim(p, t, data_range=data_range) for p, t in zip(preds, trues)]))


def _image2d(image, name):
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"{name} must be a 2D image (Qx, Qy) or (Qx, Qy, 1); got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return image


# --------------------------------------------------------------------------- #
# Intensity-weighted accuracy, eq. (1)
# --------------------------------------------------------------------------- #
def as_peak_array(peaks):
    """Peaks as an ``(n, 3)`` float array of ``(qx, qy, intensity)``.

    Parameters
    ----------
    peaks : structured array, (n, 3) array or py4DSTEM point list
        See the module docstring for the accepted forms.

    Returns
    -------
    ndarray of shape (n, 3)
    """
    data = getattr(peaks, "data", peaks)
    data = np.asarray(data)
    names = data.dtype.names
    if names is not None:
        for qx, qy in (("qx", "qy"), ("x", "y")):
            if qx in names and qy in names and "intensity" in names:
                return np.stack(
                    [data[qx], data[qy], data["intensity"]], axis=-1
                ).astype(np.float64).reshape(-1, 3)
        raise ValueError(f"peak fields must include qx, qy, intensity (or x, y); got {names}")
    data = data.astype(np.float64)
    if data.size == 0:
        return data.reshape(0, 3)
    if data.ndim != 2 or data.shape[1] != 3:
        raise ValueError(f"peaks must be an (n, 3) array of (qx, qy, intensity); got shape {data.shape}")
    return data


def without_direct_beam(peaks, centre, *, pixel_size, radius=PAPER_MATCH_RADIUS):
    """The peaks farther than ``radius`` from the direct beam at ``centre``.

    Parameters
    ----------
    peaks : structured array, (n, 3) array or py4DSTEM point list
    centre : (float, float)
        Position of the direct beam (the pattern centre) [pixels].
    pixel_size : float
        Reciprocal pixel size [1/Å].
    radius : float
        Distance within which a peak counts as the direct beam [1/Å]
        (default the matching radius of eq. (1)).

    Returns
    -------
    ndarray of shape (m, 3)
    """
    peaks = as_peak_array(peaks)
    far = np.hypot(peaks[:, 0] - centre[0], peaks[:, 1] - centre[1]) > radius / pixel_size
    return peaks[far]


def match_peaks(pred_peaks, true_peaks, *, radius):
    """Greedy one-to-one matching of peaks in order of pair distance.

    Parameters
    ----------
    pred_peaks, true_peaks : peak arrays
        Positions in pixels (see :func:`as_peak_array`).
    radius : float
        Largest distance of a matched pair [pixels]; pairs at exactly
        ``radius`` match.

    Returns
    -------
    pred_index, true_index : ndarray of int
        Indices of the matched pairs, closest pair first.
    """
    pred = as_peak_array(pred_peaks)
    true = as_peak_array(true_peaks)
    if len(pred) == 0 or len(true) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    distance = np.hypot(pred[:, None, 0] - true[None, :, 0], pred[:, None, 1] - true[None, :, 1])
    candidates = np.argwhere(distance <= radius)
    order = np.argsort(distance[candidates[:, 0], candidates[:, 1]], kind="stable")
    pred_used = np.zeros(len(pred), bool)
    true_used = np.zeros(len(true), bool)
    pairs = []
    for i, j in candidates[order]:
        if not (pred_used[i] or true_used[j]):
            pred_used[i] = true_used[j] = True
            pairs.append((i, j))
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def radial_displacements(found_peaks, true_peaks, centre, *, radius):
    """How far matched peaks sit from their true spots along g, outward positive.

    A finder whose peaks are pulled towards (or pushed away from) the
    pattern centre reads a lattice scaled by that fraction of |g|: a strain
    error. Peaks are matched one to one as eq. (1) matches them
    (:func:`match_peaks`); for each pair the displacement ``found − true``
    is projected on the true spot's direction from ``centre``.

    Parameters
    ----------
    found_peaks, true_peaks : peak arrays
        Positions in pixels (see :func:`as_peak_array`).
    centre : (float, float)
        Pattern centre (the direct beam) [pixels].
    radius : float
        Matching radius [pixels]; larger displacements are not counted.

    Returns
    -------
    ndarray of shape (m, 2)
        Per matched pair, ``|g_true|`` and the radial displacement
        ``(found − true)·ĝ_true`` [pixels]; the direct beam (|g| ≤ 1 px) is
        left out.
    """
    found, true = as_peak_array(found_peaks), as_peak_array(true_peaks)
    found_index, true_index = match_peaks(found, true, radius=radius)
    g = true[true_index, :2] - np.asarray(centre, np.float64)
    shift = found[found_index, :2] - true[true_index, :2]
    length = np.hypot(g[:, 0], g[:, 1])
    keep = length > 1.0
    radial = np.sum(shift[keep] * g[keep], axis=1) / length[keep]
    return np.stack([length[keep], radial], axis=-1).reshape(-1, 2)


def intensity_weighted_accuracy(
    pred_peaks, true_peaks, *, pixel_size, match_radius=PAPER_MATCH_RADIUS, full=False
):
    """Intensity-weighted accuracy of detected peaks, the paper's eq. (1).

    Parameters
    ----------
    pred_peaks : peak array
        Detected peaks ``(qx, qy, intensity)``, positions in pixels, any
        non-negative intensity units.
    true_peaks : peak array
        Ground-truth peaks in the same pixel coordinates (e.g. ``|V_g|``).
    pixel_size : float
        Reciprocal pixel size [1/Å].
    match_radius : float
        Largest distance of a matched pair [1/Å]; the paper's 0.05.
    full : bool
        Also return the terms.

    Returns
    -------
    accuracy : float
        ``TP / (TP + FP + FN)`` in [0, 1]; 1 when both sets are empty.
    terms : dict, only if ``full``
        ``tp``, ``fp``, ``fn`` (the intensity fractions), ``n_matched``,
        ``n_pred``, ``n_true``, ``pred_index``, ``true_index``.

    Raises
    ------
    ValueError
        For a non-positive pixel size or radius, non-finite values, negative
        intensities, or a non-empty set whose intensities sum to zero.
    """
    if not pixel_size > 0 or not match_radius > 0:
        raise ValueError(
            f"pixel_size and match_radius must be positive [1/Å]; got {pixel_size}, {match_radius}"
        )
    pred = _checked_peaks(pred_peaks, "pred_peaks")
    true = _checked_peaks(true_peaks, "true_peaks")
    pred_index, true_index = match_peaks(pred, true, radius=match_radius / pixel_size)
    pred_matched = np.zeros(len(pred), bool)
    pred_matched[pred_index] = True
    true_matched = np.zeros(len(true), bool)
    true_matched[true_index] = True
    tp = _share(pred, pred_matched)
    fp = _share(pred, ~pred_matched)
    fn = _share(true, ~true_matched)
    denominator = tp + fp + fn
    accuracy = 1.0 if len(pred) == 0 and len(true) == 0 else (tp / denominator if denominator else 0.0)
    if not full:
        return float(accuracy)
    terms = {
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "n_matched": len(pred_index),
        "n_pred": len(pred),
        "n_true": len(true),
        "pred_index": pred_index,
        "true_index": true_index,
    }
    return float(accuracy), terms


def pattern_accuracy(found_peaks, true_peaks, *, pixel_size, match_radius=PAPER_MATCH_RADIUS):
    """Eq. (1) accuracy of one pattern's found peaks, 0 when they carry no intensity.

    :func:`intensity_weighted_accuracy` rejects a non-empty set whose
    intensities sum to zero (its terms are undefined); a peak finder that
    reports only zero-intensity maxima has found nothing, so it scores 0 here.

    Parameters
    ----------
    found_peaks, true_peaks : peak array
        As :func:`intensity_weighted_accuracy`.
    pixel_size : float
        Reciprocal pixel size [1/Å].
    match_radius : float
        Largest distance of a matched pair [1/Å].

    Returns
    -------
    float
        Accuracy in [0, 1].
    """
    found = as_peak_array(found_peaks)
    if len(found) and not found[:, 2].sum() > 0:
        return 0.0
    return intensity_weighted_accuracy(found, true_peaks, pixel_size=pixel_size, match_radius=match_radius)


def _share(peaks, selected):
    """Fraction of the total intensity of ``peaks`` held by ``selected`` (0 if empty)."""
    if len(peaks) == 0:
        return 0.0
    return float(peaks[selected, 2].sum() / peaks[:, 2].sum())


def _checked_peaks(peaks, name):
    peaks = as_peak_array(peaks)
    if not np.all(np.isfinite(peaks)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(peaks[:, 2] < 0):
        raise ValueError(f"{name} has negative intensities; expected non-negative peak intensities")
    if len(peaks) and not peaks[:, 2].sum() > 0:
        raise ValueError(f"{name} intensities sum to zero; the intensity weighting is undefined")
    return peaks
