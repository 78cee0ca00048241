"""Metrics: SSIM of structure-factor images and the intensity-weighted accuracy, eq. (1)."""

from __future__ import annotations

import numpy as np
import pytest

from fcunet_lib import metrics

PIXEL = 0.0217  # [1/Å]; the paper's 0.05 1/Å radius is 2.30 px


def _peaks(*rows):
    return np.array(rows, dtype=float).reshape(-1, 3)


TRUE = _peaks((32, 32, 10.0), (44, 32, 4.0), (32, 44, 4.0), (20, 32, 2.0))


# --------------------------------------------------------------------------- #
# eq. (1)
# --------------------------------------------------------------------------- #
def test_perfect_match_is_one_whatever_the_intensity_scale():
    pred = TRUE.copy()
    pred[:, :2] += 0.3  # sub-radius jitter
    pred[:, 2] *= 1000.0  # correlation units, not |V_g|
    accuracy, terms = metrics.intensity_weighted_accuracy(pred, TRUE, pixel_size=PIXEL, full=True)
    assert accuracy == pytest.approx(1.0)
    assert (terms["tp"], terms["fp"], terms["fn"]) == pytest.approx((1.0, 0.0, 0.0))
    assert terms["n_matched"] == 4


def test_missed_peak_costs_its_share_of_true_intensity():
    pred = TRUE[:3]  # the 2.0 peak is missed: FN = 2 / 20
    accuracy, terms = metrics.intensity_weighted_accuracy(pred, TRUE, pixel_size=PIXEL, full=True)
    assert terms["fn"] == pytest.approx(0.1)
    assert terms["tp"] == pytest.approx(1.0) and terms["fp"] == 0.0
    assert accuracy == pytest.approx(1.0 / 1.1)


def test_false_peak_costs_its_share_of_predicted_intensity():
    pred = np.vstack([TRUE, _peaks((10, 10, 5.0))])  # FP = 5 / 25
    accuracy, terms = metrics.intensity_weighted_accuracy(pred, TRUE, pixel_size=PIXEL, full=True)
    assert terms["fp"] == pytest.approx(0.2)
    assert terms["tp"] == pytest.approx(0.8)
    assert terms["fn"] == 0.0
    assert accuracy == pytest.approx(0.8)


def test_peak_shifted_beyond_the_radius_is_both_false_and_missed():
    radius_px = 0.05 / PIXEL
    beyond = TRUE.copy()
    beyond[1, 0] += radius_px * 1.05
    accuracy, terms = metrics.intensity_weighted_accuracy(beyond, TRUE, pixel_size=PIXEL, full=True)
    assert terms["n_matched"] == 3
    assert terms["fp"] == pytest.approx(4 / 20) and terms["fn"] == pytest.approx(4 / 20)
    assert accuracy == pytest.approx(0.8 / 1.2)
    within = TRUE.copy()
    within[1, 0] += radius_px * 0.95
    assert metrics.intensity_weighted_accuracy(within, TRUE, pixel_size=PIXEL) == pytest.approx(1.0)


def test_greedy_matching_goes_by_pair_distance_not_list_order():
    # True A at 0, B at 3 (px along qx). P1 at 1.4 is closest to A, but P2 at 0.2
    # is closer still: distance order pairs P2-A (0.2) then P1-B (1.6).
    true = _peaks((0, 0, 1.0), (3, 0, 1.0))
    pred = _peaks((1.4, 0, 1.0), (0.2, 0, 1.0))
    pred_index, true_index = metrics.match_peaks(pred, true, radius=1.7)
    assert list(zip(pred_index, true_index)) == [(1, 0), (0, 1)]
    accuracy = metrics.intensity_weighted_accuracy(pred, true, pixel_size=1.0, match_radius=1.7)
    assert accuracy == pytest.approx(1.0)


def test_matching_is_one_to_one():
    true = _peaks((0, 0, 1.0))
    pred = _peaks((0.1, 0, 1.0), (-0.1, 0, 3.0))
    accuracy, terms = metrics.intensity_weighted_accuracy(pred, true, pixel_size=PIXEL, full=True)
    assert terms["n_matched"] == 1
    assert terms["pred_index"].tolist() == [0]  # the first of equal distances (stable order)
    assert accuracy == pytest.approx(0.25)


def test_empty_sets():
    empty = np.zeros((0, 3))
    assert metrics.intensity_weighted_accuracy(empty, empty, pixel_size=PIXEL) == 1.0
    assert metrics.intensity_weighted_accuracy(empty, TRUE, pixel_size=PIXEL) == 0.0
    assert metrics.intensity_weighted_accuracy(TRUE, empty, pixel_size=PIXEL) == 0.0


def test_pattern_accuracy_scores_zero_intensity_finds_as_nothing_found():
    zero = _peaks((32, 32, 0.0), (44, 32, 0.0))
    with pytest.raises(ValueError):
        metrics.intensity_weighted_accuracy(zero, TRUE, pixel_size=PIXEL)
    assert metrics.pattern_accuracy(zero, TRUE, pixel_size=PIXEL) == 0.0
    half = _peaks((32, 32, 10.0), (44, 32, 4.0))
    assert metrics.pattern_accuracy(half, TRUE, pixel_size=PIXEL) == pytest.approx(
        metrics.intensity_weighted_accuracy(half, TRUE, pixel_size=PIXEL))
    # a radius below the 2 px offset turns the match into a miss and a false peak
    off = _peaks((34, 32, 10.0))
    assert metrics.pattern_accuracy(off, TRUE[:1], pixel_size=PIXEL) == 1.0
    assert metrics.pattern_accuracy(off, TRUE[:1], pixel_size=PIXEL, match_radius=0.03) == 0.0


def test_accepts_structured_arrays_and_point_lists():
    structured = np.zeros(len(TRUE), [("qx", float), ("qy", float), ("intensity", float)])
    structured["qx"], structured["qy"], structured["intensity"] = TRUE.T
    maxima = structured.copy().astype([("x", float), ("y", float), ("intensity", float)])

    class PointListLike:
        data = structured

    for pred in (structured, maxima, PointListLike()):
        assert metrics.intensity_weighted_accuracy(pred, TRUE, pixel_size=PIXEL) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "pred, kwargs, message",
    [
        (_peaks((1, 1, -1.0)), {}, "negative intensities"),
        (_peaks((np.nan, 1, 1.0)), {}, "NaN"),
        (_peaks((1, 1, 0.0)), {}, "sum to zero"),
        (np.zeros((2, 2)), {}, r"\(n, 3\)"),
        (TRUE, {"pixel_size": 0.0}, "positive"),
        (TRUE, {"match_radius": -1.0}, "positive"),
    ],
)
def test_bad_peaks_raise(pred, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.intensity_weighted_accuracy(pred, TRUE, **{"pixel_size": PIXEL, **kwargs})


# --------------------------------------------------------------------------- #
# SSIM
# --------------------------------------------------------------------------- #
def _structure_factor_image(size=32, seed=0):
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size))
    image[rng.integers(2, size - 2, 12), rng.integers(2, size - 2, 12)] = rng.uniform(0.2, 1.0, 12)
    image[size // 2, size // 2] = 3.0
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, 1.0)


def test_ssim_identical_is_one_and_scale_errors_cost():
    true = _structure_factor_image()
    assert metrics.ssim(true, true) == pytest.approx(1.0)
    assert metrics.ssim(true[..., None], true[..., None]) == pytest.approx(1.0)
    assert metrics.ssim(5 * true, 5 * true) == pytest.approx(1.0)  # normalised by the truth
    assert metrics.ssim(0.5 * true, true) < 0.99
    noisy = true + np.random.default_rng(1).normal(0, 0.05 * true.max(), true.shape)
    assert metrics.ssim(noisy, true) < metrics.ssim(true, true)


def test_mean_ssim_is_the_batch_mean():
    trues = np.stack([_structure_factor_image(seed=s) for s in range(3)])
    preds = trues.copy()
    preds[1] *= 0.5
    expected = np.mean([metrics.ssim(p, t) for p, t in zip(preds, trues)])
    assert metrics.mean_ssim(preds, trues) == pytest.approx(expected)
    assert metrics.mean_ssim(preds[..., None], trues[..., None]) == pytest.approx(expected)


@pytest.mark.parametrize(
    "pred, true, message",
    [
        (np.ones((8, 8)), np.ones((8, 9)), "same shape"),
        (np.ones((2, 8, 8)), np.ones((2, 8, 8)), "2D image"),
        (np.ones((8, 8)), np.zeros((8, 8)), "positive maximum"),
        (np.full((8, 8), np.nan), np.ones((8, 8)), "NaN"),
    ],
)
def test_ssim_bad_input_raises(pred, true, message):
    with pytest.raises(ValueError, match=message):
        metrics.ssim(pred, true)


def test_relative_to_truth_keeps_ssim_for_both_target_norms():
    from fcunet_lib import evaluation

    rng = np.random.default_rng(0)
    targets = rng.random((3, 16, 16)).astype(np.float32) * np.array([1.0, 5.0, 20.0])[:, None, None]
    predictions = targets + 0.1 * rng.standard_normal(targets.shape).astype(np.float32)
    rel_pred, rel_truth = evaluation.relative_to_truth(predictions, targets, {"options": {}})
    assert rel_truth.max(axis=(1, 2)) == pytest.approx(1.0)
    for p, t, rp, rt in zip(predictions, targets, rel_pred, rel_truth):
        assert metrics.ssim(rp, rt) == pytest.approx(metrics.ssim(p, t), abs=1e-6)
    # a pattern_max model's prediction is already relative: it is left as it is
    card = {"options": {"target_norm": "pattern_max"}}
    same, _ = evaluation.relative_to_truth(rel_pred, targets, card)
    np.testing.assert_array_equal(same, rel_pred)
    np.testing.assert_allclose(evaluation.targets_like_model(targets, card), rel_truth)
    np.testing.assert_allclose(evaluation.targets_like_model(targets, {}), targets, rtol=1e-6)
    with pytest.raises(ValueError, match="one prediction per target"):
        evaluation.relative_to_truth(predictions[:2], targets, card)


def test_without_direct_beam_keeps_only_peaks_beyond_the_radius():
    peaks = np.array([[32.0, 32.0, 9.0], [33.0, 32.0, 1.0], [32.0, 36.0, 2.0], [20.0, 44.0, 3.0]])
    kept = metrics.without_direct_beam(peaks, (32, 32), pixel_size=0.0217)  # 0.05 Å⁻¹ = 2.30 px
    assert kept.tolist() == [[32.0, 36.0, 2.0], [20.0, 44.0, 3.0]]
    assert len(metrics.without_direct_beam(peaks, (32, 32), pixel_size=0.0217, radius=0.3)) == 1
    assert metrics.without_direct_beam(np.zeros((0, 3)), (32, 32), pixel_size=0.0217).shape == (0, 3)


def test_radial_displacements_project_the_shift_on_g():
    centre = (32.0, 32.0)
    truth = np.array([[32.0, 32.0, 1.0],    # the direct beam: left out
                      [42.0, 32.0, 1.0],    # g along +qx
                      [32.0, 12.0, 1.0],    # g along −qy, |g| = 20
                      [52.0, 52.0, 1.0]])   # unmatched below
    found = np.array([[32.2, 32.0, 1.0],
                      [41.5, 32.7, 1.0],    # 0.5 px inward, 0.7 px sideways
                      [32.0, 11.0, 1.0],    # 1 px outward
                      [55.0, 55.0, 1.0]])   # 4.2 px away: beyond the radius
    rows = metrics.radial_displacements(found, truth, centre, radius=2.0)
    rows = rows[np.argsort(rows[:, 0])]
    assert np.allclose(rows, [[10.0, -0.5], [20.0, 1.0]])


def test_radial_displacements_of_nothing_found_is_empty():
    truth = np.array([[42.0, 32.0, 1.0]])
    assert metrics.radial_displacements(np.zeros((0, 3)), truth, (32, 32), radius=2.0).shape == (0, 2)
