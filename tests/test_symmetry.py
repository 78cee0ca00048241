"""Symmetry frames about the centre pixel, and the learned finder's average over them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fcunet_lib import config, disks, symmetry
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE


def _stack(size, seed=0):
    return np.random.default_rng(seed).random((2, size, size, 1))


@pytest.mark.parametrize("size", [8, 9])
def test_every_frame_is_undone_and_keeps_the_centre_pixel(size):
    images = _stack(size)
    centre = size // 2
    for frame in symmetry.frames(8):
        seen = frame.apply(images)
        assert np.array_equal(frame.undo(seen), images), frame
        assert np.array_equal(seen[:, centre, centre], images[:, centre, centre]), frame


def test_frames_move_a_pixel_as_their_names_say():
    size, centre = 8, 4
    image = np.zeros((1, size, size, 1))
    image[0, centre + 1, centre + 2, 0] = 1.0  # offset (+1, +2) from the centre
    expected = {"identity": (1, 2), "rotation 180°": (-1, -2), "transpose": (2, 1),
                "transpose ∘ rotation 180°": (-2, -1), "mirror of axis 0": (-1, 2), "mirror of axis 1": (1, -2)}
    for frame in symmetry.frames(8):
        where = np.argwhere(frame.apply(image)[0, ..., 0] == 1.0)
        offset = tuple(int(v) for v in where[0] - centre)
        if frame.name in expected:
            assert offset == expected[frame.name], frame
        else:  # the two quarter turns
            assert offset in ((-2, 1), (2, -1)), frame


@pytest.mark.parametrize("n", symmetry.FRAME_COUNTS)
def test_each_prefix_is_a_group(n):
    images = _stack(8, seed=1)
    seen = [frame.apply(images) for frame in symmetry.frames(n)]
    for a, b in itertools.product(symmetry.frames(n), repeat=2):
        composed = a.apply(b.apply(images))
        assert any(np.array_equal(composed, s) for s in seen), (a, b)


@pytest.mark.parametrize("bad", [0, 3, 16, 4.0, True, "4", None])
def test_frame_count_is_checked(bad):
    with pytest.raises(ValueError, match="symmetry_frames must be one of"):
        symmetry.frames(bad)
    with pytest.raises(ValueError, match="symmetry_frames must be one of"):
        config.EvaluationSettings(test_patterns=1, scan_shape=(1, 1), mc_passes=1, symmetry_frames=bad)


def test_frames_need_square_images():
    with pytest.raises(ValueError, match="square images"):
        symmetry.frames(2)[1].apply(np.zeros((1, 8, 6, 1)))


# --------------------------------------------------------------------------- #
# find_disks_fcunet(symmetry_frames=...)
# --------------------------------------------------------------------------- #
_SIZE = 64
_SPOTS = [(32, 32), (32, 44), (44, 32), (20, 32), (32, 20), (44, 44), (20, 20)]


def _spot_pattern():
    """Gaussian spots (σ = 1.5 px) at whole pixels, and a small probe disk."""
    qx, qy = np.mgrid[:_SIZE, :_SIZE].astype(float)
    pattern = sum(np.exp(-((qx - x) ** 2 + (qy - y) ** 2) / (2 * 1.5**2)) for x, y in _SPOTS)
    probe = (np.hypot(qx - _SIZE // 2, qy - _SIZE // 2) <= 2.5).astype(float)
    return pattern[None, None], probe


def _shifting_model(inputs):
    """A 'network' that is not equivariant: it draws every spot one pixel too far along qx."""
    return np.roll(np.asarray(inputs[0], np.float64), 1, axis=1)


def _identity_model(inputs):
    return np.asarray(inputs[0], np.float64)


def _peaks(model, n_frames):
    pattern, probe = _spot_pattern()
    bv = disks.find_disks_fcunet(pattern, probe, model=model, pixel_size=RECIPROCAL_PIXEL_SIZE,
                                 symmetry_frames=n_frames, minSpacing=5, edgeBoundary=4, minRelativeIntensity=0.1)
    peaks = bv.raw[0, 0].data
    order = np.lexsort((peaks["qy"], peaks["qx"]))
    return peaks[order]


def test_averaging_over_frames_cancels_a_bias_that_turns_with_the_frame():
    truth = np.array(sorted(_SPOTS), float)
    plain = _peaks(_shifting_model, 1)
    assert np.allclose(np.c_[plain["qx"], plain["qy"]], truth + [1, 0], atol=1e-6)
    averaged = _peaks(_shifting_model, 2)  # identity + rotation by 180°: the shifts +1 and −1 cancel
    assert len(averaged) == len(truth)
    assert np.allclose(np.c_[averaged["qx"], averaged["qy"]], truth, atol=1e-6)


def test_an_equivariant_model_is_unchanged_by_the_average():
    plain, averaged = _peaks(_identity_model, 1), _peaks(_identity_model, 8)
    for key in ("qx", "qy", "intensity"):
        assert np.allclose(plain[key], averaged[key], atol=1e-9)
    assert np.allclose(averaged["intensity_std"], 0.0, atol=1e-9)


def test_finder_refuses_a_bad_frame_count():
    pattern, probe = _spot_pattern()
    with pytest.raises(ValueError, match="symmetry_frames must be one of"):
        disks.find_disks_fcunet(pattern, probe, model=_identity_model, pixel_size=RECIPROCAL_PIXEL_SIZE,
                                symmetry_frames=3)


def test_default_scale_averages_over_four_frames_and_smoke_over_one():
    assert config.get_scale("default").evaluation.symmetry_frames == 4
    assert config.get_scale("smoke").evaluation.symmetry_frames == 1
