"""Strain maps through py4DSTEM's StrainMap: the sign convention, origins, references."""

from __future__ import annotations

import numpy as np
import pytest

from fcunet_lib import disks, strain

PIXEL = 0.0217  # [1/Å]
SCAN = (3, 4)
LEFT = np.zeros(SCAN, bool)
LEFT[:, :2] = True


def _lattice_scan(scale_x=1.0, scale_y=1.0, size=64):
    """Square lattice, 12 px; the right half's reciprocal lattice scaled along x and y."""
    g1 = np.zeros(SCAN + (2,))
    g1[...] = (12.0, 0.0)
    g2 = np.zeros(SCAN + (2,))
    g2[...] = (0.0, 12.0)
    g1[:, 2:, 0] *= scale_x
    g2[:, 2:, 1] *= scale_y
    return disks.synthetic_lattice_scan(SCAN, size=size, g1=g1, g2=g2, probe_radius=3.0)


def _exact_vectors(synthetic, shift=(0.0, 0.0)):
    """BraggVectors holding the true disk centres (no detection error)."""
    from emdfile import PointListArray
    from py4DSTEM import BraggVectors

    vectors = PointListArray(dtype=[("qx", float), ("qy", float), ("intensity", float)], shape=SCAN)
    for i, j in np.ndindex(SCAN):
        true = synthetic.peaks[i, j]
        peaks = np.zeros(len(true), vectors.dtype)
        peaks["qx"], peaks["qy"], peaks["intensity"] = true[:, 0] + shift[0], true[:, 1] + shift[1], true[:, 2]
        vectors[i, j].add(peaks)
    bv = BraggVectors(SCAN, synthetic.data.shape[2:])
    bv.set_raw_vectors(vectors)
    return bv


@pytest.fixture(scope="module")
def contracted_x():
    return _lattice_scan(scale_x=0.99)


def test_sign_convention_reciprocal_contraction_reads_positive_strain(contracted_x):
    # py4DSTEM reports real-space strain: a reciprocal lattice contracted by 1 %
    # along x is a real lattice stretched along x, e_xx = 1 - 0.99 = +1 %.
    result = strain.strain_map(_exact_vectors(contracted_x), reference=LEFT, origin="center")
    np.testing.assert_allclose(result.e_xx[:, 2:], 0.01, atol=1e-9)
    np.testing.assert_allclose(result.e_xx[:, :2], 0.0, atol=1e-9)
    for other in (result.e_yy, result.e_xy, result.theta):
        np.testing.assert_allclose(other, 0.0, atol=1e-9)
    assert result.mask.all()
    # basis chosen on the Bragg vector map (both halves mixed): the 12-px square lattice
    assert sorted(np.abs(np.concatenate([result.g1, result.g2]))) == pytest.approx([0, 0, 12, 12], abs=0.1)


def test_reciprocal_expansion_reads_negative_strain():
    result = strain.strain_map(_exact_vectors(_lattice_scan(scale_y=1.01)), reference=LEFT, origin="center")
    np.testing.assert_allclose(result.e_yy[:, 2:], -0.01, atol=1e-9)
    np.testing.assert_allclose(result.e_xx, 0.0, atol=1e-9)


def test_correlation_disks_to_strain_end_to_end(contracted_x):
    bv = disks.find_disks_correlation(contracted_x.data, contracted_x.probe, pixel_size=PIXEL, kernel="flat")
    result = strain.strain_map(bv, reference=LEFT)  # origin measured and fitted
    assert result.e_xx[:, 2:].mean() == pytest.approx(0.01, abs=1e-3)
    assert np.abs(result.e_xx[:, :2]).max() < 2e-4
    assert np.abs(result.e_yy).max() < 1e-3 and np.abs(result.e_xy).max() < 1e-3
    origin = bv.calibration.get_origin()
    np.testing.assert_allclose(origin, 32.0, atol=0.01)


def test_fcunet_vectors_with_their_extra_field_feed_the_strain_map(contracted_x):
    from fcunet_lib.targets import render_spots

    patterns = contracted_x.data.reshape(-1, 64, 64)
    truths = contracted_x.peaks.reshape(-1)

    def oracle(inputs):  # a perfect network: the target spots of whichever pattern it is given
        index = [int(np.argmin(np.abs(patterns - p).sum(axis=(1, 2)))) for p in inputs[0][..., 0]]
        spots = [render_spots(truths[k][:, :2], truths[k][:, 2], pattern_size=64) for k in index]
        return np.stack(spots)[..., None]

    bv = disks.find_disks_fcunet(contracted_x.data, contracted_x.probe, model=oracle, pixel_size=PIXEL,
                                 batch_size=5)
    assert "intensity_std" in bv.raw[0, 0].data.dtype.names
    result = strain.strain_map(bv, reference=LEFT, origin="center")
    np.testing.assert_allclose(result.e_xx[:, 2:], 0.01, atol=1e-6)
    np.testing.assert_allclose(result.e_yy, 0.0, atol=1e-6)


def test_origin_options_and_reference_vectors(contracted_x):
    shifted = _exact_vectors(contracted_x, shift=(1.5, -0.75))  # descan: every disk moved
    result = strain.strain_map(shifted, reference=LEFT, origin=(33.5, 31.25))
    np.testing.assert_allclose(result.e_xx[:, 2:], 0.01, atol=1e-9)
    measured = strain.strain_map(_exact_vectors(contracted_x, shift=(1.5, -0.75)), reference=LEFT,
                                 origin="measure")
    np.testing.assert_allclose(measured.e_xx, result.e_xx, atol=1e-9)
    # the left half's lattice given as vectors is the same reference as the mask
    by_vectors = strain.strain_map(_exact_vectors(contracted_x), origin="center",
                                   reference=(result.g1_ref, result.g2_ref))
    np.testing.assert_allclose(by_vectors.e_xx, result.e_xx, atol=1e-9)
    default_reference = strain.strain_map(_exact_vectors(contracted_x), origin="center")
    assert default_reference.e_xx[:, 2:].mean() > default_reference.e_xx[:, :2].mean()


def test_given_basis_vectors_are_used(contracted_x):
    result = strain.strain_map(_exact_vectors(contracted_x), reference=LEFT, origin="center",
                               g1=(12.0, 12.0), g2=(-12.0, 12.0))
    np.testing.assert_allclose(result.g1, (12.0, 12.0), atol=0.2)
    np.testing.assert_allclose(result.g2, (-12.0, 12.0), atol=0.2)
    np.testing.assert_allclose(result.e_xx[:, 2:], 0.01, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reference": np.ones((2, 2), bool)}, "boolean array of the scan shape"),
        ({"reference": np.zeros(SCAN, bool)}, "selects no scan position"),
        ({"reference": "left"}, "boolean mask"),
        ({"origin": "middle"}, "origin must be"),
        ({"origin": (np.nan, 32.0)}, "NaN"),
        ({"g1": (12.0, 0.0)}, "both g1 and g2"),
        ({"g1": (0.0, 0.0), "g2": (0.0, 12.0)}, "non-zero"),
        ({"g1": (12.0, 0.0), "g2": (24.0, 0.0)}, "parallel"),
        ({"mask": np.ones(SCAN)}, "boolean array"),
        ({"max_peak_spacing_px": -1.0}, "positive"),
    ],
)
def test_bad_arguments_raise_value_error(contracted_x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        strain.strain_map(_exact_vectors(contracted_x), **{"origin": "center", **kwargs})


def test_not_bragg_vectors_raises():
    with pytest.raises(ValueError, match="BraggVectors"):
        strain.strain_map(np.zeros((3, 4, 10, 3)))
