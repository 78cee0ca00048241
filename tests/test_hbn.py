"""The Fig. 4 h-BN stand-in: fields, tilt states, nearest columns, dose, cache, strain reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fcunet_lib import hbn, hbn_strain
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

PX = RECIPROCAL_PIXEL_SIZE
G100 = 2.0 / (math.sqrt(3.0) * 2.504)  # |g| of h-BN {100} [1/Å]


# --------------------------------------------------------------------------- #
# The sample
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("overrides, message", [
    ({"scan_shape": (1, 5)}, "scan_shape"),
    ({"scan_shape": (4,)}, "scan_shape"),
    ({"thickness_range_nm": (16.0, 8.0)}, "thickness_range_nm"),
    ({"thickness_range_nm": (0.0, 8.0)}, "thickness_range_nm"),
    ({"dose": 0.0}, "dose"),
    ({"dose": float("nan")}, "dose"),
    ({"max_tilt_mrad": -1.0}, "max_tilt_mrad"),
    ({"n_tilt_states": 0}, "n_tilt_states"),
    ({"seed": -1}, "seed"),
    ({"step_nm": 0}, "step_nm"),
])
def test_stand_in_rejects_bad_conditions(overrides, message):
    with pytest.raises(ValueError, match=message):
        hbn.StandIn(**{"scan_shape": (4, 4), **overrides})


def test_thickness_field_is_smooth_seeded_and_spans_the_range():
    stand_in = hbn.StandIn(scan_shape=(20, 20))
    thickness = hbn.thickness_map(stand_in)
    assert thickness.shape == (20, 20)
    assert thickness.min() == pytest.approx(8.0) and thickness.max() == pytest.approx(16.0)
    # 60 nm correlation length over 10 nm steps: neighbours differ by a small part of the range
    steps = np.concatenate([np.abs(np.diff(thickness, axis=a)).ravel() for a in (0, 1)])
    assert steps.mean() < 0.1 * 8.0 and steps.max() < 0.35 * 8.0
    np.testing.assert_array_equal(thickness, hbn.thickness_map(hbn.StandIn(scan_shape=(20, 20))))
    assert not np.allclose(thickness, hbn.thickness_map(hbn.StandIn(scan_shape=(20, 20), seed=1)))


def test_tilt_field_is_a_smooth_bend_up_to_the_largest_tilt():
    stand_in = hbn.StandIn(scan_shape=(20, 16), max_tilt_mrad=2.0)
    tilt = hbn.tilt_map(stand_in)
    magnitude = np.linalg.norm(tilt, axis=-1)
    assert tilt.shape == (20, 16, 2)
    assert magnitude.max() == pytest.approx(2.0)
    assert np.abs(np.diff(tilt, axis=0)).max() < 0.5 and np.abs(np.diff(tilt, axis=1)).max() < 0.5
    # the slope of one height field: its discrete curl (d tx / dy - d ty / dx) is small
    curl = np.gradient(tilt[..., 0], axis=1) - np.gradient(tilt[..., 1], axis=0)
    assert np.abs(curl[2:-2, 2:-2]).max() < 0.05 * magnitude.max()
    np.testing.assert_array_equal(hbn.tilt_map(hbn.StandIn(scan_shape=(4, 4), max_tilt_mrad=0.0)), 0.0)


def test_tilt_states_find_clusters_deterministically():
    rng = np.random.default_rng(3)
    centres = np.array([[-1.5, 0.0], [0.0, 1.0], [1.2, -0.8]])
    tilts = np.concatenate([c + 0.01 * rng.standard_normal((30, 2)) for c in centres])
    states = hbn.tilt_states(tilts, 3)
    np.testing.assert_allclose(states, centres[np.lexsort((centres[:, 1], centres[:, 0]))], atol=0.01)
    np.testing.assert_array_equal(states, hbn.tilt_states(tilts[::-1], 3))  # order does not matter
    assert len(hbn.tilt_states(np.zeros((5, 2)), 4)) == 1  # one distinct tilt, one state
    with pytest.raises(ValueError, match="n_states"):
        hbn.tilt_states(tilts, 0)
    with pytest.raises(ValueError, match="finite"):
        hbn.tilt_states(np.full((3, 2), np.nan), 2)


def test_every_position_takes_its_nearest_tilt_and_thickness():
    thickness = np.array([[8.2, 9.5], [15.9, 12.4]])
    tilt = np.array([[[0.1, 0.0], [1.9, 0.1]], [[-1.0, -1.0], [0.9, 1.1]]])
    series = np.array([8.0, 9.1, 10.0, 12.0, 16.0])
    states = np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    state, level = hbn.assign_columns(thickness, tilt, series, states)
    np.testing.assert_array_equal(state, [[1, 3], [0, 2]])
    np.testing.assert_array_equal(level, [[0, 1], [4, 3]])
    with pytest.raises(ValueError, match="tilt_mrad"):
        hbn.assign_columns(thickness, tilt[..., :1], series, states)
    with pytest.raises(ValueError, match="candidates"):
        hbn.nearest_index([1.0], np.zeros((0,)))


def test_requested_thicknesses_cover_the_range():
    np.testing.assert_allclose(hbn.requested_thicknesses(hbn.StandIn(scan_shape=(2, 2))), np.arange(8, 17))
    uneven = hbn.StandIn(scan_shape=(2, 2), thickness_range_nm=(5.0, 7.5), thickness_step_nm=1.0)
    np.testing.assert_allclose(hbn.requested_thicknesses(uneven), [5, 6, 7, 7.5])


def test_dose_counts_are_poisson_with_the_dose_as_expected_total():
    pattern = np.zeros((2, 8, 8))
    pattern[0, 3, 3], pattern[0, 4, 4] = 3.0, 1.0
    pattern[1] = 1.0
    rng = np.random.default_rng(0)
    draws = np.stack([hbn.dose_counts(pattern, 400.0, rng) for _ in range(400)])
    assert draws.dtype == np.float32 and np.all(draws == np.round(draws)) and draws.min() >= 0
    np.testing.assert_allclose(draws.mean(axis=0).sum(axis=(-2, -1)), [400, 400], rtol=0.01)
    np.testing.assert_allclose(draws.mean(axis=0)[0, 3, 3], 300, rtol=0.02)
    assert draws[:, 0].sum(axis=(-2, -1)).std() == pytest.approx(20, rel=0.15)  # sqrt(400)
    again = hbn.dose_counts(pattern, 400.0, np.random.default_rng(5))
    np.testing.assert_array_equal(again, hbn.dose_counts(pattern, 400.0, np.random.default_rng(5)))
    for bad, message in ((-pattern, "non-negative"), (np.zeros((8, 8)), "positive sum")):
        with pytest.raises(ValueError, match=message):
            hbn.dose_counts(bad, 400.0, rng)
    with pytest.raises(ValueError, match="dose"):
        hbn.dose_counts(pattern, 0.0, rng)


# --------------------------------------------------------------------------- #
# The simulated scan (with a cheap stand-in for abTEM)
# --------------------------------------------------------------------------- #
class _FakeSimulator:
    """Two bright pixels per pattern whose ratio says which (call, thickness) made it."""

    def __init__(self, size=8):
        self.size, self.calls = size, []

    def __call__(self, probe, tilt, thicknesses):
        self.calls.append(tuple(tilt))
        n = len(thicknesses)
        patterns = np.zeros((n, self.size, self.size), np.float32)
        patterns[:, 0, 0] = 1.0
        patterns[:, 1, 0] = 1.0 + np.arange(n) + 100.0 * (len(self.calls) - 1)
        vacuum = np.zeros((self.size, self.size), np.float32)
        vacuum[4, 4] = 1.0
        return patterns, vacuum, np.asarray(thicknesses) + 0.01  # realised: whole slices


def _decode(data):
    code = np.round(data[..., 1, 0] / data[..., 0, 0] - 1.0).astype(int)
    return code // 100, code % 100


def test_scan_takes_the_nearest_simulated_column_and_caches_it(tmp_path):
    stand_in = hbn.StandIn(scan_shape=(6, 5), n_tilt_states=3, dose=1e10)
    fake = _FakeSimulator()
    scan = hbn.simulate_scan(stand_in, "circular_3.4mrad", pattern_size=8, cache_dir=tmp_path, simulator=fake)
    assert scan.n_unique == scan.n_simulated == len(fake.calls) == len(scan.states_mrad) <= 3
    assert [tuple(s) for s in scan.states_mrad] == fake.calls
    call, level = _decode(scan.data)
    state, nearest = hbn.assign_columns(scan.thickness_nm, scan.tilt_mrad, scan.thicknesses_nm, scan.states_mrad)
    np.testing.assert_array_equal(call, state)
    np.testing.assert_array_equal(level, nearest)
    np.testing.assert_allclose(scan.assigned_thickness_nm, scan.thicknesses_nm[nearest])
    assert np.abs(scan.assigned_thickness_nm - scan.thickness_nm).max() <= 0.51  # half a step + 0.01
    np.testing.assert_allclose(scan.data.sum(axis=(2, 3)), 1e10, rtol=1e-4)
    assert scan.probe.sum() == pytest.approx(1e10, rel=1e-6)

    again = hbn.simulate_scan(stand_in, hbn.probe_spec("circular_3.4mrad"), pattern_size=8, cache_dir=tmp_path,
                              simulator=_FakeSimulator())
    assert again.n_simulated == 0  # everything came from the cache
    np.testing.assert_array_equal(again.data, scan.data)  # same seed, same noise

    other = hbn.simulate_scan(stand_in, "circular_12mrad", pattern_size=8, cache_dir=tmp_path,
                              simulator=_FakeSimulator())
    assert other.n_simulated == other.n_unique  # another probe: other files
    damaged = min(tmp_path.glob("*.npz"))
    damaged.write_bytes(b"not a zip")
    fake = _FakeSimulator()
    for name in ("circular_3.4mrad", "circular_12mrad"):
        hbn.simulate_scan(stand_in, name, pattern_size=8, cache_dir=tmp_path, simulator=fake)
    assert len(fake.calls) == 1  # only the damaged series is simulated again


def test_noise_differs_between_probes_and_seeds():
    def counts(name, seed):
        stand_in = hbn.StandIn(scan_shape=(3, 3), n_tilt_states=2, dose=1e4, seed=seed)
        return hbn.simulate_scan(stand_in, name, pattern_size=8, simulator=_FakeSimulator()).data

    base = counts("circular_3.4mrad", 0)
    assert not np.array_equal(base, counts("circular_3.4mrad", 1))
    assert not np.array_equal(base, counts("circular_0.86mrad", 0))
    with pytest.raises(ValueError, match="unknown probe"):
        counts("circular_5mrad", 0)


# --------------------------------------------------------------------------- #
# Geometry and peak options
# --------------------------------------------------------------------------- #
def test_basis_vectors_are_the_100_spots_sixty_degrees_apart():
    g1, g2 = hbn.reciprocal_basis_px(PX)
    assert np.hypot(*g1) == pytest.approx(G100 / PX) and np.hypot(*g2) == pytest.approx(G100 / PX)
    assert math.degrees(math.atan2(*g1[::-1])) == pytest.approx(30.0)
    assert math.degrees(math.atan2(*g2[::-1])) == pytest.approx(90.0)
    assert hbn.lattice_spacing_inv_A() == pytest.approx(G100)
    with pytest.raises(ValueError, match="pixel_size"):
        hbn.reciprocal_basis_px(0.0)


def test_only_the_12_mrad_disks_overlap_and_get_hybrid_correlation():
    assert [hbn_strain.disks_overlap(p) for p in hbn.PROBES] == [False, False, False, True]
    for spec in hbn.PROBES:
        options = hbn_strain.correlation_options(spec, pixel_size=PX)
        assert options["minPeakSpacing"] == pytest.approx(0.5 * G100 / PX)
        assert options.get("corrPower", 1.0) == (0.5 if spec.semiangle_mrad == 12.0 else 1.0)
    assert hbn_strain.fcunet_options()["minSpacing"] == pytest.approx(0.5 * G100 / PX)


# --------------------------------------------------------------------------- #
# Reading the strain
# --------------------------------------------------------------------------- #
def _lattice_scan(pixel_size, *, scale=1.0, size=64):
    """Correlation peaks of a perfect h-BN disk lattice at ``pixel_size`` [1/Å], lattice × ``scale``."""
    from fcunet_lib.disks import find_disks_correlation, synthetic_lattice_scan

    g1, g2 = (scale * g for g in hbn.reciprocal_basis_px(pixel_size))
    scan = synthetic_lattice_scan((3, 3), size=size, g1=g1, g2=g2, probe_radius=3.0)
    return find_disks_correlation(scan.data, scan.probe, pixel_size=pixel_size,
                                  **hbn_strain.correlation_options(hbn.PROBES[2], pixel_size=pixel_size))


def test_a_perfect_lattice_reads_zero_strain_even_at_another_pixel_size():
    g1, g2 = hbn.reciprocal_basis_px(PX)
    reference = hbn_strain.mean_lattice(_lattice_scan(PX), pixel_size=PX, g1=g1, g2=g2)
    np.testing.assert_allclose(reference[0], g1 * PX, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(reference[1], g2 * PX, rtol=2e-3, atol=2e-4)
    itself = hbn_strain.measure_strain(_lattice_scan(PX), reference, pixel_size=PX)
    assert all(abs(itself["stats"][c]["mean"]) < 1e-6 for c in hbn_strain.COMPONENTS)
    other_px = 0.9 * PX  # the same crystal seen with a longer camera length
    outcome = hbn_strain.measure_strain(_lattice_scan(other_px), reference, pixel_size=other_px, exclude_rows=1)
    assert outcome["error"] is None and outcome["n_fitted"] == outcome["n_positions"] == 6
    # the reference travels in 1/Å: only correlation's sub-pixel error (≈ 0.015 px of 21 px) is left
    for component in hbn_strain.COMPONENTS:
        assert abs(outcome["stats"][component]["mean"]) < 0.12  # percent, degrees
    assert hbn_strain.systematic_error(outcome) < 0.12
    # sign: a reciprocal lattice 1 % larger is a real lattice 1 % smaller
    expanded = hbn_strain.measure_strain(_lattice_scan(PX, scale=1.01), reference, pixel_size=PX)
    assert expanded["stats"]["e_xx"]["mean"] == pytest.approx(-1.0, abs=0.12)
    assert expanded["stats"]["e_yy"]["mean"] == pytest.approx(-1.0, abs=0.12)


def test_strain_without_a_reference_says_why():
    bv = _lattice_scan(PX)
    outcome = hbn_strain.measure_strain(bv, None, pixel_size=PX)
    assert "bullseye" in outcome["error"] and outcome["n_fitted"] == 0
    assert all(s is None for s in outcome["stats"].values()) and hbn_strain.systematic_error(outcome) is None
    assert np.isnan(outcome["maps"]["e_xx"]).all()
    with pytest.raises(ValueError, match="exclude_rows"):
        hbn_strain.measure_strain(bv, None, pixel_size=PX, exclude_rows=3)


def _outcome(mean):
    stats = {c: {"mean": mean, "std": 0.1} for c in hbn_strain.COMPONENTS}
    return {"stats": stats, "error": None}


def test_goal_check_compares_fcunet_with_correlation():
    names = [p.name for p in hbn.PROBES]
    correlation = {name: _outcome(-1.2 if name == "circular_12mrad" else 0.3) for name in names}
    fcunet = {name: _outcome(0.3 if name == "circular_12mrad" else 0.05) for name in names}
    goals = hbn_strain.goal_check({"correlation": correlation, "fcunet": fcunet})
    assert goals["ratio_12mrad"] == pytest.approx(4.0) and goals["met"]
    fcunet["circular_0.86mrad"] = _outcome(-0.2)
    goals = hbn_strain.goal_check({"correlation": correlation, "fcunet": fcunet})
    assert not goals["met"] and not goals["fcunet_within_0.1_percent"]["circular_0.86mrad"]


# --------------------------------------------------------------------------- #
# The real files
# --------------------------------------------------------------------------- #
def _write_files(folder, qshape=(16, 16)):
    data, probes = {}, {}
    rng = np.random.default_rng(0)
    for spec in hbn.PROBES:
        data[spec.name] = folder / f"{spec.name}.npy"
        probes[spec.name] = folder / f"{spec.name}_probe.npy"
        np.save(data[spec.name], rng.poisson(5.0, (2, 3) + qshape).astype(np.float32))
        probe = np.zeros(qshape, np.float32)
        probe[7:10, 7:10] = 100.0
        np.save(probes[spec.name], probe)
    return data, probes


def test_real_files_load_with_their_calibration(tmp_path):
    data, probes = _write_files(tmp_path)
    scans = hbn_strain.measured_scans(data, probes, pixel_size=0.02, semiangles_mrad={"circular_12mrad": 11.5})
    assert list(scans) == [p.name for p in hbn.PROBES]
    assert scans["circular_12mrad"].calibration.semiangle_mrad == 11.5
    assert scans["circular_0.86mrad"].calibration.energy_kv == 80.0
    assert np.shape(scans["bullseye_3.4mrad"].data) == (2, 3, 16, 16)
    in_order = hbn_strain.measured_scans(list(data.values()), list(probes.values()),
                                         pixel_size={name: 0.03 for name in data})
    assert in_order["circular_3.4mrad"].calibration.pixel_size == 0.03


def test_real_files_need_all_four_probes_and_a_sane_calibration(tmp_path):
    data, probes = _write_files(tmp_path)
    with pytest.raises(ValueError, match="data_path must have exactly the keys"):
        hbn_strain.measured_scans({k: v for k, v in data.items() if k != "circular_12mrad"}, probes, pixel_size=0.02)
    with pytest.raises(ValueError, match="probe_path"):
        hbn_strain.measured_scans(data, "probe.npy", pixel_size=0.02)
    with pytest.raises(ValueError, match="pixel_size"):
        hbn_strain.measured_scans(data, probes, pixel_size=-1.0)
    with pytest.raises(ValueError, match="semiangles_mrad"):
        hbn_strain.measured_scans(data, probes, pixel_size=0.02, semiangles_mrad={"5mrad": 5.0})
    small = tmp_path / "small_probe.npy"
    np.save(small, np.ones((8, 8), np.float32))
    with pytest.raises(ValueError, match="shape"):
        hbn_strain.measured_scans(data, {**probes, "circular_12mrad": small}, pixel_size=0.02)


# --------------------------------------------------------------------------- #
# The figure
# --------------------------------------------------------------------------- #
def test_figure_draws_maps_and_failures():
    from matplotlib.figure import Figure

    from fcunet_lib.plots import hbn as plots_hbn

    maps = {c: np.zeros((3, 3)) for c in hbn_strain.COMPONENTS}
    good = {"maps": maps, "stats": _outcome(0.0)["stats"], "error": None}
    failed = {"maps": maps, "stats": {c: None for c in hbn_strain.COMPONENTS}, "error": "no lattice"}
    outcomes = {"correlation": {p.name: good for p in hbn.PROBES},
                "fcunet": {p.name: failed for p in hbn.PROBES}}
    patterns = {p.name: np.ones((16, 16)) for p in hbn.PROBES}
    fields = {"thickness_nm": np.ones((3, 3)), "tilt_mrad": np.zeros((3, 3, 2))}
    figure = plots_hbn.plot_fig4(patterns, outcomes, data_label="simulated stand-in", fields=fields)
    assert isinstance(figure, Figure)
    assert "simulated stand-in" in figure._suptitle.get_text()
    assert all("simulated stand-in" in sub._suptitle.get_text() for sub in figure.subfigs[1].subfigs)
    assert figure.subfigs[1].subfigs[1]._suptitle.get_text().startswith("(c) FCU-Net")
    spectral = plots_hbn.plot_fig4(patterns, outcomes, data_label="simulated stand-in",
                                   network_label="U-Net (spectral)")
    assert spectral.subfigs[1].subfigs[1]._suptitle.get_text().startswith("(c) U-Net (spectral)")
