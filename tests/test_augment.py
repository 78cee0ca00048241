import numpy as np
import pytest

from fcunet_lib import augment

N = 64


def gaussian_spot(centre, sigma=1.5, n=N):
    x = np.arange(n)[:, None]
    y = np.arange(n)[None, :]
    return np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))


def centroid(image):
    total = image.sum()
    x = np.arange(image.shape[0])[:, None]
    y = np.arange(image.shape[1])[None, :]
    return np.array([(image * x).sum() / total, (image * y).sum() / total])


def test_warp_moves_a_spot_where_the_map_says():
    matrix = augment.elliptic_shift_matrix(0.1, 0.3)
    shift = np.array([1.3, -0.7])
    q = np.array([10.0, -6.0])
    moved = augment.warp(gaussian_spot(np.array([N // 2, N // 2]) + q), matrix, shift)
    expected = np.array([N // 2, N // 2]) + matrix @ q + shift
    np.testing.assert_allclose(centroid(moved), expected, atol=0.03)


def test_distortion_moves_target_peaks_exactly_as_disks():
    rng = np.random.default_rng(0)
    offsets = [np.array([12.0, 3.0]), np.array([-7.0, 15.0])]
    centre = np.array([N // 2, N // 2])
    disks = sum(np.clip(4 - np.hypot(np.arange(N)[:, None] - (centre + o)[0],
                                     np.arange(N)[None, :] - (centre + o)[1]), 0, 1)
                for o in offsets)
    target = sum(gaussian_spot(centre + o, sigma=1.0) for o in offsets)
    settings = augment.AugmentSettings(max_ellipticity=0.1, max_shift_px=3, probability=1.0,
                                       background_weight=(0, 0), bad_pixel_fraction=0,
                                       dose_range=(1e12, 1e12))
    cbed_a, _, target_a, params = augment.augment_triplet(disks, disks, target, settings, rng)
    matrix = augment.elliptic_shift_matrix(params["ellipticity"], params["angle_rad"])
    for o in offsets:
        expected = centre + matrix @ o + np.array(params["shift_px"])
        window = tuple(slice(int(round(c)) - 6, int(round(c)) + 7) for c in expected)
        lo = np.array([w.start for w in window])
        np.testing.assert_allclose(centroid(target_a[window]) + lo, expected, atol=0.05)
        np.testing.assert_allclose(centroid(cbed_a[window]) + lo, expected, atol=0.1)


def test_shot_noise_preserves_the_mean():
    rng = np.random.default_rng(1)
    cbed = gaussian_spot((N // 2, N // 2), sigma=8) + 0.01
    draws = np.mean([augment.shot_noise(cbed, 1e5, rng) for _ in range(400)], axis=0)
    assert abs(draws.sum() / cbed.sum() - 1) < 1e-3
    np.testing.assert_allclose(draws, cbed, atol=0.02 * cbed.max())
    single = augment.shot_noise(cbed, 1e3, rng)
    assert not np.allclose(single, cbed)  # the noise is really there


def test_background_keeps_total_intensity_and_is_smooth():
    probe = np.clip(4 - np.hypot(*np.meshgrid(np.arange(N) - N // 2, np.arange(N) - N // 2)), 0, 1)
    bg = augment.plasmon_background(probe, 5.0)
    assert bg.sum() == pytest.approx(1.0)
    assert np.unravel_index(bg.argmax(), bg.shape) == (N // 2, N // 2)
    cbed = probe * 3
    mixed = augment.add_background(cbed, bg, 0.1)
    assert mixed.sum() == pytest.approx(cbed.sum())


def test_bad_pixels_fraction():
    rng = np.random.default_rng(2)
    cbed = np.ones((256, 256))
    out = augment.bad_pixels(cbed, 1e-2, rng)
    changed = np.count_nonzero(out != 1)
    assert 400 < changed < 900
    assert np.count_nonzero(out == 0) > 100 and np.count_nonzero(out > 1) > 100
    assert (out[out > 1] >= 2).all()


def test_same_seed_same_batch_and_different_seed_differs():
    base = [gaussian_spot((N // 2 + i, N // 2), sigma=4) for i in range(3)]
    settings = augment.AugmentSettings()

    def batch(seed):
        return [augment.augment_triplet(b, b, b, settings, augment.rng_for(seed, i))[0]
                for i, b in enumerate(base)]

    first, second, other = batch(7), batch(7), batch(8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


@pytest.mark.parametrize("kwargs", [{"max_ellipticity": 0.7}, {"dose_range": (0, 10)},
                                    {"max_shift_px": -1}, {"probability": 2},
                                    {"bad_pixel_fraction": 0.5}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="expected"):
        augment.AugmentSettings(**kwargs)


def test_bad_inputs_are_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="expected cbed, probe and target of one shape"):
        augment.augment_triplet(np.ones((8, 8)), np.ones((8, 8)), np.ones((4, 4)),
                                augment.AugmentSettings(), rng)
    with pytest.raises(ValueError, match="non-negative"):
        augment.shot_noise(-np.ones((4, 4)), 10, rng)
    with pytest.raises(ValueError, match="positive"):
        augment.plasmon_background(np.ones((4, 4)), 0)
