"""The disk-contrast pull diagnostic of Fig. 3 (fcunet_lib.disk_contrast)."""

from __future__ import annotations

import numpy as np
import pytest

from fcunet_lib import disk_contrast, multilayer


def _disk_pattern(size, centre, radius, slope):
    """A disk whose intensity rises linearly along qx by ``slope`` per pixel."""
    qx, qy = np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2, indexing="ij")
    inside = np.hypot(qx - centre[0], qy - centre[1]) <= radius + 0.5
    return np.where(inside, 1.0 + slope * (qx - centre[0]), 0.0)


def test_a_uniform_disk_is_not_pulled_and_a_graded_one_is_pulled_by_its_second_moment():
    flat = _disk_pattern(128, (40, 0), 20, 0.0)
    assert disk_contrast.disk_centroid_pull(flat, [(40, 0)], 20) == pytest.approx([0.0], abs=1e-9)
    graded = _disk_pattern(128, (40, 0), 20, 0.01)
    # centroid shift of a linear ramp over a disk: slope · R² / 4 = 1 px, i.e. 2.5 % of |g| = 40 px
    assert disk_contrast.disk_centroid_pull(graded, [(40, 0)], 20) == pytest.approx([2.5], rel=0.02)
    # seen from the opposite reflection the same ramp pulls inward
    mirrored = _disk_pattern(128, (-40, 0), 20, 0.01)
    assert disk_contrast.disk_centroid_pull(mirrored, [(-40, 0)], 20) == pytest.approx([-2.5], rel=0.02)


@pytest.mark.parametrize("pattern, g, radius, message", [
    (np.ones((8, 9)), [(2, 0)], 1, "square 2D"),
    (np.ones((16, 16)), [(0, 0)], 1, "non-zero"),
    (np.ones((16, 16)), [(2, 0)], 0, "radius_px must be a positive number"),
    (np.zeros((16, 16)), [(2, 0)], 1, "no intensity"),
])
def test_disk_centroid_pull_rejects_bad_input(pattern, g, radius, message):
    with pytest.raises(ValueError, match=message):
        disk_contrast.disk_centroid_pull(pattern, g, radius)


class _RadialRampSimulator:
    """Patterns brighter outward, more so for more germanium: ``1 + x_Ge · |q| / 10``."""

    def __call__(self, spec):
        qx, qy = np.meshgrid(np.arange(64) - 32, np.arange(64) - 32, indexing="ij")
        pattern = (1.0 + spec.x_ge * np.hypot(qx, qy) / 10.0).astype(np.float32)
        return pattern, np.ones((64, 64), np.float32)


def test_disk_contrast_pull_orders_the_regions_by_their_contrast():
    sample = multilayer.fig3_multilayer(20)
    scan = multilayer.simulate_scan(sample, n_y=1, tilted=False, pattern_size=64,
                                    simulator=_RadialRampSimulator())
    pull = disk_contrast.disk_contrast_pull(scan, sample)
    assert set(pull) == {"substrate", "Si0.50Ge0.50", "Si", "relative_to_substrate"}
    for family in disk_contrast.PULL_REFLECTIONS:
        assert pull["Si0.50Ge0.50"][family] > pull["substrate"][family] > pull["Si"][family]
        for region in ("Si0.50Ge0.50", "Si"):
            assert pull["relative_to_substrate"][region][family] == pytest.approx(
                pull[region][family] - pull["substrate"][family])
    tilted = multilayer.simulate_scan(sample, n_y=1, tilted=True, pattern_size=64,
                                      simulator=_RadialRampSimulator())
    with pytest.raises(ValueError, match="on-zone"):
        disk_contrast.disk_contrast_pull(tilted, sample)


class _ThickeningSimulator:
    """Thickness series whose outward ramp grows with thickness and germanium content."""

    def __init__(self):
        self.calls = []

    def __call__(self, spec, thicknesses):
        self.calls.append(spec)
        qx, qy = np.meshgrid(np.arange(64) - 32, np.arange(64) - 32, indexing="ij")
        radial = np.hypot(qx, qy)
        patterns = np.stack([1.0 + spec.x_ge * t * radial / 400.0 for t in thicknesses])
        return patterns.astype(np.float32), np.ones((64, 64), np.float32)


def test_contrast_pull_series_grows_with_the_contrast_and_is_cached(tmp_path):
    sample = multilayer.fig3_multilayer(20)
    simulator = _ThickeningSimulator()
    series = disk_contrast.contrast_pull_series(sample, [4.0, 20.0, 40.0], pattern_size=64,
                                                cache_dir=tmp_path, simulator=simulator)
    assert series["thickness_nm"] == [4.0, 20.0, 40.0] and len(simulator.calls) == 3
    pull = series["relative_to_substrate"]
    assert set(pull) == {"Si0.50Ge0.50", "Si"}
    assert np.all(np.diff(pull["Si0.50Ge0.50"]["022"]) > 0)  # more germanium than the substrate
    assert np.all(np.diff(pull["Si"]["022"]) < 0)  # less
    again = _ThickeningSimulator()
    cached = disk_contrast.contrast_pull_series(sample, [4.0, 20.0, 40.0], pattern_size=64,
                                                cache_dir=tmp_path, simulator=again)
    assert not again.calls and cached == series


@pytest.mark.parametrize("thicknesses", [[40.0, 20.0], [10.0, 10.0], [0.0, 5.0]])
def test_contrast_pull_series_rejects_bad_thicknesses(thicknesses):
    with pytest.raises(ValueError, match="thickness"):
        disk_contrast.contrast_pull_series(multilayer.fig3_multilayer(20), thicknesses, pattern_size=64,
                                           simulator=_ThickeningSimulator())
