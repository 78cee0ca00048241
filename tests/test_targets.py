"""Tests of the structure-factor targets (milliseconds, plus one slow reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from fcunet_lib import orientation, targets
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

abtem = pytest.importorskip("abtem")

SI_A = 5.431


pytestmark = pytest.mark.usefixtures("quick_abtem")


@pytest.fixture(scope="module")
def si110():
    return orientation.zone_axis_crystal(bulk("Si", "diamond", a=SI_A, cubic=True), (1, 1, 0))


@pytest.fixture(scope="module")
def tetragonal():
    """A cell with 12 × a = 46.08 Å (the reference lands on the library grid) and
    a long period c = 10 Å, so first-order Laue-zone spots pass the filter
    (weight exp(−0.1²/2·0.05²) = 0.14)."""
    a = 46.08 / 12
    atoms = Atoms("SiO", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.3)], cell=(a, a, 10.0), pbc=True)
    return orientation.periodic_crystal(atoms)


def _peaks(image, threshold, radius=3):
    """Local maxima above ``threshold``, refined by a centroid over ±radius px."""
    from scipy.ndimage import maximum_filter

    mask = (image == maximum_filter(image, size=5)) & (image > threshold)
    found = []
    for i, j in zip(*np.nonzero(mask)):
        if radius <= i < image.shape[0] - radius and radius <= j < image.shape[1] - radius:
            patch = image[i - radius : i + radius + 1, j - radius : j + radius + 1]
            offsets = np.arange(-radius, radius + 1)
            found.append(
                (
                    i + (patch.sum(1) * offsets).sum() / patch.sum(),
                    j + (patch.sum(0) * offsets).sum() / patch.sum(),
                )
            )
    return np.array(found)


def test_subpixel_positions_are_recoverable():
    rng = np.random.default_rng(0)
    grid = np.stack(
        np.meshgrid(np.arange(8, 57, 8), np.arange(8, 57, 8), indexing="ij"), -1
    ).reshape(-1, 2)
    positions = grid + rng.uniform(-0.5, 0.5, size=grid.shape)
    image = targets.render_spots(positions, np.full(len(grid), 5.0), pattern_size=64)
    found = _peaks(image, 1.0)
    assert len(found) == len(grid)
    nearest = np.argmin(np.linalg.norm(found[:, None] - positions[None], axis=2), axis=1)
    np.testing.assert_allclose(found, positions[nearest], atol=0.05)
    assert image.max() <= 5.0 + 1e-9


def test_peaks_sit_on_the_reciprocal_lattice(si110):
    target = targets.structure_factor_target(si110, thicknesses_nm=[10.0], pattern_size=128)[0]
    found = _peaks(target, 0.05 * target.max())
    g = (found - 64) * RECIPROCAL_PIXEL_SIZE
    # Si[110] cell: x ∥ ½[1-10] (a/√2), y ∥ [001] (a): g_x·a/√2 and g_y·a are integers.
    indices = g * np.array([SI_A / math.sqrt(2), SI_A])
    error_px = (
        np.abs(indices - np.round(indices))
        / np.array([SI_A / math.sqrt(2), SI_A])
        / RECIPROCAL_PIXEL_SIZE
    )
    assert len(found) > 30
    assert error_px.max() < 0.05
    lengths = np.linalg.norm(g, axis=1)
    for expected in (math.sqrt(3) / SI_A, 2 * math.sqrt(2) / SI_A, 4 / SI_A):  # 111, 220, 004
        assert np.min(np.abs(lengths - expected)) < 0.05 * RECIPROCAL_PIXEL_SIZE
    assert np.min(np.abs(lengths - 2 / SI_A)) > 1.0 * RECIPROCAL_PIXEL_SIZE  # 002 is forbidden


def test_linear_in_thickness(si110):
    series = targets.structure_factor_target(
        si110, thicknesses_nm=[2.0, 5.0, 50.0], pattern_size=64
    )
    np.testing.assert_allclose(series[1], 2.5 * series[0], rtol=1e-6)
    np.testing.assert_allclose(series[2], 25 * series[0], rtol=1e-6)


def test_friedel_symmetric_and_centred(si110):
    zno = Atoms(
        "Zn2O2",
        scaled_positions=[
            (1 / 3, 2 / 3, 0),
            (2 / 3, 1 / 3, 0.5),
            (1 / 3, 2 / 3, 0.382),
            (2 / 3, 1 / 3, 0.882),
        ],
        cell=[[3.25, 0, 0], [-1.625, 3.25 * math.sqrt(3) / 2, 0], [0, 0, 5.21]],
        pbc=True,
    )
    for crystal in (si110, orientation.zone_axis_crystal(zno, (1, 0, 0))):
        for tilt in ((0.0, 0.0), (15.0, -5.0)):
            image = targets.structure_factor_target(
                crystal, thicknesses_nm=[5.0], pattern_size=64, tilt_mrad=tilt
            )[0]
            flipped = image[::-1, ::-1]  # index m -> 63 - m; Friedel partner of m is 64 - m
            np.testing.assert_allclose(
                image[1:, 1:], np.roll(flipped, (1, 1), axis=(0, 1))[1:, 1:], rtol=1e-5, atol=1e-3
            )
            assert np.argmax(image) == 32 * 64 + 32


def test_tilt_shifts_the_excitation_filter(si110):
    straight = targets.structure_factor_spots(si110, k_max_inv_A=1.5)
    tilt = (60.0, 0.0)  # s = 1.04 Å⁻¹ × 0.06 for (400): weight 0.46
    tilted = targets.structure_factor_spots(si110, k_max_inv_A=1.5, tilt_mrad=tilt)
    beam = orientation.beam_direction(tilt)
    by_hkl = {tuple(h): a for h, a in zip(straight.hkl, straight.amplitude_V)}
    for hkl, g, amplitude in zip(tilted.hkl, tilted.g_inv_A, tilted.amplitude_V):
        if hkl[2] == 0 and tuple(hkl) in by_hkl:
            expected = by_hkl[tuple(hkl)] * math.exp(-((g @ beam) ** 2) / (2 * 0.05**2))
            assert amplitude == pytest.approx(expected, rel=1e-9)
    strong_x = [a for h, a in zip(tilted.hkl, tilted.amplitude_V) if tuple(h) == (4, 0, 0)]
    assert strong_x and strong_x[0] < 0.5 * by_hkl[(4, 0, 0)]


def test_matches_the_slow_reference(tetragonal):
    """Analytic spots against the 3D-FFT recipe on abTEM's potential slices [V·Å]."""
    thickness_nm = 2.0
    reference, sampling = targets.reference_target(
        tetragonal, thickness_nm=thickness_nm, gpts_per_unit=(48, 48)
    )
    assert reference.shape == (576, 576) and np.allclose(sampling, RECIPROCAL_PIXEL_SIZE)
    image = targets.structure_factor_target(
        tetragonal, thicknesses_nm=[thickness_nm], pattern_size=576
    )[0]
    zolz_only = targets.structure_factor_target(
        tetragonal, thicknesses_nm=[thickness_nm], pattern_size=576, excitation_sigma=1e-3
    )[0]
    strongest = np.argsort(reference.ravel())[::-1][:25]
    peaks = np.unravel_index(strongest, reference.shape)
    # Same pixels (spots of this cell sit exactly on pixels), same amplitudes.
    np.testing.assert_allclose(image[peaks], reference[peaks], rtol=0.025)
    # The Laue-zone filter matters: without it some spots are off by far more.
    assert np.max(np.abs(zolz_only[peaks] / reference[peaks] - 1)) > 0.08


def test_random_orientation_target(tmp_path):
    block = orientation.random_orientation_crystal(
        bulk("Si", "diamond", a=SI_A, cubic=True), thickness_nm=2, seed=5
    )
    image = targets.structure_factor_target(block, thicknesses_nm=[2.0], pattern_size=64)[0]
    assert image.dtype == np.float32 and np.all(image >= 0) and np.argmax(image) == 32 * 64 + 32
    np.testing.assert_allclose(image[1:, 1:], image[::-1, ::-1][:-1, :-1], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"thicknesses_nm": [-1.0]}, "expected thicknesses > 0 nm"),
        ({"excitation_sigma": 0.0}, "expected excitation_sigma > 0"),
        ({"spot_sigma_px": -1.0}, "expected spot_sigma_px > 0"),
        ({"pattern_size": 0}, "expected pattern_size"),
        ({"thermal_sigma_A": -0.1}, "expected thermal_sigma_A >= 0"),
    ],
)
def test_bad_target_input(si110, kwargs, message):
    call = {"thicknesses_nm": [1.0], "pattern_size": 64} | kwargs
    with pytest.raises(ValueError, match=message):
        targets.structure_factor_target(si110, **call)
