"""The Fig. 5 stand-in: layers and composition, eq. 6, thickness and bend fields, shot noise,
the simulation cache, the strain read-out and the user-data path."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from fcunet_lib import multilayer, sige

STACK = sige.SiGeStack()


def _layout(scan_shape=(200, 10), levels=None, seed=0, stack=STACK):
    return sige.lay_out(stack, scan_shape, levels=sige.Levels() if levels is None else levels, seed=seed)


# --------------------------------------------------------------------------- #
# Layers and composition
# --------------------------------------------------------------------------- #
def test_five_ten_nm_layers_every_thirty_nm_left_of_the_reference():
    edges = sige.layer_edges_nm(STACK)
    np.testing.assert_allclose(edges, [[20, 30], [50, 60], [80, 90], [110, 120], [140, 150]])
    layout = _layout()
    reference_x = layout.x_nm[layout.reference[:, 0]]
    assert reference_x.min() > edges.max() and reference_x.min() == pytest.approx(160.5)
    assert layout.reference.sum() == 40 * 10  # the rightmost 20 % of 200 columns


def test_composition_is_x_ge_in_the_layers_and_zero_in_si():
    centres = sige.layer_edges_nm(STACK).mean(axis=1)
    np.testing.assert_allclose(sige.composition_profile(STACK, centres), 0.18, atol=1e-9)
    np.testing.assert_allclose(sige.composition_profile(STACK, centres + 15.0), 0.0, atol=1e-9)  # spacers
    np.testing.assert_allclose(sige.composition_profile(STACK, [20.0, 30.0, 140.0]), 0.09, atol=1e-6)  # interfaces
    assert sige.composition_profile(STACK, [0.0, 199.0]).max() < 1e-12


@pytest.mark.parametrize("count, allowed", [(2, {0.0, 0.18}), (4, {0.0, 0.06, 0.12, 0.18})])
def test_composition_is_quantised_to_equal_steps(count, allowed):
    layout = _layout(levels=sige.Levels(composition=count))
    values = np.unique(layout.x_ge)
    assert all(any(math.isclose(v, a, abs_tol=1e-12) for a in allowed) for v in values)
    assert values.max() == 0.18 and values.min() == 0.0
    layer = (layout.x_nm > 21.5) & (layout.x_nm < 28.5)
    assert np.all(layout.x_ge[layer] == 0.18)  # 1 nm steps: the layer's inside is pure x_Ge
    assert np.all(layout.x_ge == layout.x_ge[:, :1])  # the layers run along y


# --------------------------------------------------------------------------- #
# Eq. 6 and the expectation
# --------------------------------------------------------------------------- #
def test_eq6_against_a_hand_calculation():
    # (5.658 / 5.431 − 1) × 0.18 × (1 + 2 × 0.275) = 0.041797 × 0.18 × 1.55
    assert sige.eq6_strain(0.18) == pytest.approx(0.0116614, rel=1e-5)
    # the paper's printed constants (a_Si = 5.54 Å, a typo) give about half of it
    assert sige.eq6_strain(0.18, a_si=5.54, a_ge=5.66) == pytest.approx(0.0060433, rel=1e-4)
    assert sige.eq6_strain(0.0) == 0.0
    assert sige.eq6_strain(0.18, poisson_ratio=0.0) == pytest.approx(0.18 * (5.658 / 5.431 - 1))
    np.testing.assert_allclose(sige.eq6_strain(np.array([0.0, 0.09, 0.18])), [0, 0.0058307, 0.0116614], rtol=1e-4)


def test_expected_strain_is_what_py4dstem_reads_against_si():
    e_xx, e_yy = sige.expected_strain(np.array([[0.0, 0.18]]))
    lattice = sige.eq6_strain(0.18)
    np.testing.assert_allclose(e_xx, [[0.0, 1 - 1 / (1 + lattice)]], rtol=1e-12)
    assert e_xx[0, 1] == pytest.approx(0.0115270, rel=1e-5)
    np.testing.assert_array_equal(e_yy, 0.0)


@pytest.mark.parametrize("kwargs", [{"x_ge": 1.2}, {"x_ge": -0.1}, {"x_ge": 0.1, "poisson_ratio": 0.5},
                                    {"x_ge": 0.1, "a_si": 0.0}])
def test_eq6_rejects_unphysical_input(kwargs):
    with pytest.raises(ValueError):
        sige.eq6_strain(**kwargs)


def test_the_simulated_lattice_is_the_expected_one():
    layout = _layout((20, 2))
    lattice = layout.a_x_A / sige.A_SI - 1
    np.testing.assert_allclose(lattice, sige.eq6_strain(layout.x_ge), rtol=1e-12)
    for spec, x_ge in zip(layout.specs().ravel(), layout.x_ge.ravel()):
        assert spec.a_yz_A == sige.A_SI  # coherent: the Si lattice in the interface plane
        assert spec.a_x_A == pytest.approx(sige.A_SI * (1 + sige.eq6_strain(x_ge)), abs=1e-9)
        crystal = multilayer.column_crystal(spec.a_x_A, spec.a_yz_A)
        np.testing.assert_allclose(np.diag(crystal.atoms.cell.array)[0], spec.a_x_A, rtol=1e-12)


def _exact_bragg_vectors(layout, size=64):
    from emdfile import PointListArray
    from py4DSTEM import BraggVectors

    from fcunet_lib.targets import structure_factor_spots

    vectors = PointListArray(dtype=[("qx", float), ("qy", float), ("intensity", float)], shape=layout.scan_shape)
    specs = layout.specs()
    for index in np.ndindex(layout.scan_shape):
        crystal = multilayer.column_crystal(specs[index].a_x_A, specs[index].a_yz_A)
        spots = structure_factor_spots(crystal, k_max_inv_A=0.6)
        keep = spots.amplitude_V > 0.05 * spots.amplitude_V.max()
        position = spots.positions_px(size)[keep]
        peaks = np.zeros(len(position), vectors.dtype)
        peaks["qx"], peaks["qy"], peaks["intensity"] = position[:, 0], position[:, 1], spots.amplitude_V[keep]
        vectors[index].add(peaks)
    bv = BraggVectors(layout.scan_shape, (size, size))
    bv.set_raw_vectors(vectors)
    return bv


def test_exact_disk_positions_read_the_eq6_expectation():
    layout = _layout((20, 1), levels=sige.Levels(composition=2, thickness=1, tilt=1))
    expected_xx, _ = sige.expected_strain(layout.x_ge)
    g1, g2 = sige.si_basis_px()
    outcome = sige.measure_strain(_exact_bragg_vectors(layout), reference=layout.reference, expected_xx=expected_xx,
                                  g1=g1, g2=g2)
    assert outcome["error"] is None and outcome["n_fitted"] == outcome["n_positions"] == 16
    np.testing.assert_allclose(outcome["profile_xx"], 100 * expected_xx[:, 0], atol=1e-6)
    np.testing.assert_allclose(outcome["profile_yy"], 0.0, atol=1e-6)
    assert outcome["exx_rms"] < 1e-6 and outcome["eyy_rms"] < 1e-6 and abs(outcome["exx_mean"]) < 1e-6
    without = sige.measure_strain(_exact_bragg_vectors(layout), reference=layout.reference, g1=g1, g2=g2)
    assert without["exx_rms"] is None and without["eyy_rms"] < 1e-6  # ε_yy = 0 needs no composition


def test_a_rotated_pattern_reads_the_same_strain_along_the_layer_normal():
    layout = _layout((20, 1), levels=sige.Levels(composition=2, thickness=1, tilt=1))
    expected_xx, _ = sige.expected_strain(layout.x_ge)
    bv = _exact_bragg_vectors(layout, size=64)
    angle = 30.0
    turn = np.radians(angle)
    for index in np.ndindex(layout.scan_shape):
        peaks = bv.raw[index].data
        qx, qy = peaks["qx"] - 32, peaks["qy"] - 32
        peaks["qx"] = 32 + qx * np.cos(turn) - qy * np.sin(turn)
        peaks["qy"] = 32 + qx * np.sin(turn) + qy * np.cos(turn)
    g1, g2 = sige.si_basis_px(rotation_deg=angle)
    np.testing.assert_allclose(np.hypot(*g1), np.hypot(*sige.si_basis_px()[0]))
    outcome = sige.measure_strain(bv, reference=layout.reference, expected_xx=expected_xx, g1=g1, g2=g2,
                                  coordinate_rotation=angle)
    assert outcome["error"] is None and outcome["exx_rms"] < 1e-6 and outcome["eyy_rms"] < 1e-6
    detector_axes = sige.measure_strain(bv, reference=layout.reference, expected_xx=expected_xx, g1=g1, g2=g2)
    assert detector_axes["eyy_rms"] > 0.1  # without the rotation ε_yy picks up part of the layers' strain


def test_a_scan_without_a_lattice_reports_why_instead_of_raising():
    from emdfile import PointListArray
    from py4DSTEM import BraggVectors

    vectors = PointListArray(dtype=[("qx", float), ("qy", float), ("intensity", float)], shape=(4, 1))
    for i in range(4):
        vectors[i, 0].add(np.array([(32.0, 32.0, 1.0)], vectors.dtype))  # the direct beam only
    bv = BraggVectors((4, 1), (64, 64))
    bv.set_raw_vectors(vectors)
    outcome = sige.measure_strain(bv, reference=sige.reference_mask((4, 1), 0.25), expected_xx=np.zeros((4, 1)))
    assert outcome["error"] and outcome["exx_rms"] is None and outcome["n_fitted"] == 0
    assert np.isnan(outcome["e_xx"]).all()
    with pytest.raises(ValueError, match="expected_xx"):
        sige.measure_strain(bv, reference=sige.reference_mask((4, 1), 0.25), expected_xx=np.zeros(4))


# --------------------------------------------------------------------------- #
# Thickness and bend
# --------------------------------------------------------------------------- #
def test_thickness_field_has_the_mean_and_range_asked_for_and_is_smooth():
    x, y = np.arange(0.0, 200.5), np.arange(0.0, 50.5)
    field = sige.thickness_field(STACK, x, y, seed=3)
    assert field.mean() == pytest.approx(110.0, rel=1e-12)
    assert field.max() - field.min() == pytest.approx(0.2 * 110.0, rel=1e-12)
    assert sige.thickness_range_nm(STACK, seed=3) == pytest.approx((field.min(), field.max()))
    # smooth: wavelengths ≥ 60 nm, so 1 nm steps change it by well under 1 nm
    assert np.abs(np.diff(field, axis=0)).max() < 1.0 and np.abs(np.diff(field, axis=1)).max() < 1.0
    np.testing.assert_array_equal(field, sige.thickness_field(STACK, x, y, seed=3))
    assert not np.allclose(field, sige.thickness_field(STACK, x, y, seed=4))


def test_quantised_thickness_stays_in_range_and_uses_neighbouring_levels():
    layout = _layout(seed=1)
    low, high = sige.thickness_range_nm(STACK, seed=1)
    levels = layout.thickness_levels_nm
    assert len(levels) == 9 and levels[0] == pytest.approx(low) and levels[-1] == pytest.approx(high)
    assert np.all((layout.thickness_nm >= low - 1e-9) & (layout.thickness_nm <= high + 1e-9))
    assert np.abs(np.diff(layout.thickness_index, axis=0)).max() <= 1  # 1 nm steps: at most one level apart
    truth = sige.thickness_field(STACK, layout.x_nm, layout.y_nm, seed=1)
    assert np.abs(layout.thickness_nm - truth).max() <= (levels[1] - levels[0]) / 2 + 1e-9


def test_the_bend_tilts_most_at_the_far_end_and_changes_slowly():
    layout = _layout()
    magnitude = np.hypot(*np.moveaxis(layout.tilt_mrad, -1, 0))
    assert magnitude.min() >= 0.3 and magnitude.max() <= 2.5
    assert magnitude[0].mean() > 2.0 and magnitude[-1].mean() < 0.7
    assert np.all(np.diff(layout.tilt_index, axis=0) <= 0)  # towards the substrate the tilt only falls
    assert np.abs(np.diff(layout.tilt_index, axis=0)).max() <= 1
    assert len(layout.tilt_levels_mrad) == 6
    bend = sige.bend_field(STACK, [0.0, 200.0], [0.0, 50.0])
    np.testing.assert_allclose(bend, [[0.85, 1.0], [0.0, 0.15]])
    azimuth = np.degrees(np.arctan2(layout.tilt_levels_mrad[:, 1], layout.tilt_levels_mrad[:, 0]))
    assert np.all((azimuth > 20) & (azimuth < 70)) and np.all(np.diff(azimuth) > 0)


def test_distinct_simulations_are_the_distinct_composition_tilt_pairs():
    layout = _layout()
    pairs = {(x, t) for x, t in zip(layout.x_ge.ravel(), layout.tilt_index.ravel())}
    assert len(set(layout.specs().ravel())) == len(pairs) <= 4 * 6


# --------------------------------------------------------------------------- #
# Dose
# --------------------------------------------------------------------------- #
def test_shot_noise_gives_seeded_poisson_counts_for_the_dose():
    probe = np.zeros((16, 16))
    probe[6:10, 6:10] = 1.0
    data = np.broadcast_to(0.5 * probe, (3, 2, 16, 16))
    counts, probe_counts = sige.add_shot_noise(data, probe, dose_e=1e4, seed=2)
    assert counts.dtype == np.float32 and np.array_equal(counts, np.round(counts)) and counts.min() >= 0
    assert probe_counts.sum() == pytest.approx(1e4)
    assert counts.sum(axis=(2, 3)).mean() == pytest.approx(5e3, rel=0.02)
    assert counts[0, 0].std() > 0 and not np.array_equal(counts[0, 0], counts[0, 1])  # every position its own
    again, _ = sige.add_shot_noise(data, probe, dose_e=1e4, seed=2)
    other, _ = sige.add_shot_noise(data, probe, dose_e=1e4, seed=3)
    np.testing.assert_array_equal(counts, again)
    assert not np.array_equal(counts, other)


@pytest.mark.parametrize("change, match", [({"dose_e": 0.0}, "dose_e"), ({"seed": -1}, "seed"),
                                           ({"data": -np.ones((1, 1, 4, 4))}, "non-negative"),
                                           ({"data": np.ones((1, 4, 4))}, "Rx, Ry")])
def test_shot_noise_rejects_bad_input(change, match):
    arguments = {"data": np.ones((1, 1, 4, 4)), "probe": np.ones((4, 4)), "dose_e": 10.0, "seed": 0} | change
    with pytest.raises(ValueError, match=match):
        sige.add_shot_noise(arguments.pop("data"), arguments.pop("probe"), **arguments)


# --------------------------------------------------------------------------- #
# Simulation and cache (a cheap stand-in simulator)
# --------------------------------------------------------------------------- #
class _CountingSimulator:
    def __init__(self):
        self.calls = []

    def __call__(self, spec, thicknesses):
        self.calls.append(spec)
        value = spec.x_ge + spec.tilt_mrad[0]
        patterns = np.stack([np.full((16, 16), value + t, np.float32) for t in thicknesses])
        probe = np.zeros((16, 16), np.float32)
        probe[6:11, 6:11] = 1.0
        return patterns, probe


def test_stand_in_simulates_each_distinct_column_once_and_reuses_the_cache(tmp_path):
    layout = _layout((20, 3), levels=sige.Levels(composition=2, thickness=3, tilt=2))
    first_simulator = _CountingSimulator()
    first = sige.simulate_stand_in(layout, pattern_size=16, cache_dir=tmp_path, simulator=first_simulator)
    n = len(set(layout.specs().ravel()))
    assert first.n_simulations == first.n_simulated == len(first_simulator.calls) == n
    assert len(list(tmp_path.glob("*.npz"))) == n
    assert first.data.shape == (20, 3, 16, 16) and first.probe.sum() == pytest.approx(STACK.dose_e, rel=1e-6)
    again = _CountingSimulator()
    second = sige.simulate_stand_in(layout, pattern_size=16, cache_dir=tmp_path, simulator=again)
    assert second.n_simulated == 0 and not again.calls
    np.testing.assert_array_equal(first.data, second.data)  # same seed, same counts
    # every position took the pattern of its own thickness level
    clean = (layout.x_ge + layout.tilt_mrad[..., 0] + layout.thickness_levels_nm[layout.thickness_index])
    scale = STACK.dose_e / 25.0
    mean_counts = first.data.mean(axis=(2, 3)) / scale
    np.testing.assert_allclose(mean_counts, clean, rtol=0.02)
    # a damaged cache file is simulated again, not trusted
    damaged = min(tmp_path.glob("*.npz"))
    damaged.write_bytes(damaged.read_bytes()[:30])
    repaired = sige.simulate_stand_in(layout, pattern_size=16, cache_dir=tmp_path, simulator=_CountingSimulator())
    assert repaired.n_simulated == 1
    # another seed is another alloy: nothing reused
    other = sige.simulate_stand_in(_layout((20, 3), levels=sige.Levels(composition=2, thickness=3, tilt=2), seed=1),
                                   pattern_size=16, cache_dir=tmp_path, simulator=_CountingSimulator())
    assert other.n_simulated == other.n_simulations


def test_realised_thickness_is_whole_slices_near_the_levels():
    layout = _layout((20, 3), levels=sige.Levels(composition=2, thickness=3, tilt=2))
    data = sige.simulate_stand_in(layout, pattern_size=16, simulator=_CountingSimulator())
    assert np.abs(data.thickness_nm - layout.thickness_nm).max() < 0.2  # within one 1.9 Å slice
    assert data.source == "simulated stand-in" and data.origin == "center"


def test_random_alloy_column_is_seeded_and_reduces_to_si(quick_abtem):
    a = sige.A_SI * (1 + sige.eq6_strain(0.5))
    spec = multilayer.ColumnSpec.rounded(a, sige.A_SI, 0.5, (0.0, 0.0))
    options = {"energy_kv": 300.0, "semiangle_mrad": 1.3, "pattern_size": 32}
    first, probe = multilayer.simulate_column(spec, thickness_nm=[1.0, 2.0], alloy_seed=1, **options)
    again, _ = multilayer.simulate_column(spec, thickness_nm=[1.0, 2.0], alloy_seed=1, **options)
    other, _ = multilayer.simulate_column(spec, thickness_nm=[1.0, 2.0], alloy_seed=2, **options)
    virtual, _ = multilayer.simulate_column(spec, thickness_nm=2.0, **options)
    assert first.shape == (2, 32, 32) and virtual.shape == (32, 32) and probe.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.allclose(first[-1], virtual)  # disorder scatters
    si = multilayer.ColumnSpec.rounded(sige.A_SI, sige.A_SI, 0.0, (0.0, 0.0))
    np.testing.assert_array_equal(multilayer.simulate_column(si, thickness_nm=2.0, alloy_seed=1, **options)[0],
                                  multilayer.simulate_column(si, thickness_nm=2.0, **options)[0])
    with pytest.raises(ValueError, match="alloy_seed"):
        multilayer.simulate_column(spec, thickness_nm=2.0, alloy_seed=-1, **options)


# --------------------------------------------------------------------------- #
# Reading the scan, users' files, bad input
# --------------------------------------------------------------------------- #
def test_basis_vectors_are_the_si_111_reflections():
    g1, g2 = sige.si_basis_px(0.02)
    np.testing.assert_allclose(g1, [1 / (5.431 * 0.02), math.sqrt(2) / (5.431 * 0.02)])
    np.testing.assert_allclose(g2, g1 * [1, -1])


def test_example_positions_are_distinct_and_cover_layers_and_si():
    layout = _layout()
    chosen = sige.example_positions(layout.x_nm, layout.y_nm, 5, stack=STACK)
    assert len(chosen) == 5 and len({rx for rx, _ in chosen}) == 5
    assert all(ry == 5 for _, ry in chosen)
    compositions = {float(layout.x_ge[rx, ry]) for rx, ry in chosen}
    assert compositions == {0.0, 0.18}
    coarse = sige.example_positions(np.array([50.0, 150.0]), np.array([1.0]), 5, stack=STACK)
    assert coarse == [(0, 0), (1, 0)]
    assert sige.example_positions(np.arange(20.0), np.arange(4.0), 3) == [(0, 2), (10, 2), (19, 2)]  # no layout
    with pytest.raises(ValueError, match="count"):
        sige.example_positions(layout.x_nm, layout.y_nm, 0)


def test_measured_files_are_read_with_their_composition(tmp_path):
    from fcunet_lib.userdata import Calibration

    rng = np.random.default_rng(0)
    np.save(tmp_path / "scan.npy", rng.poisson(5.0, (6, 2, 16, 16)).astype(np.float32))
    probe = np.zeros((16, 16), np.float32)
    probe[6:11, 6:11] = 100.0
    np.save(tmp_path / "probe.npy", probe)
    np.save(tmp_path / "x_ge.npy", np.array([0.0, 0.18, 0.0, 0.18, 0.0, 0.0]))
    calibration = Calibration(pixel_size=0.02, energy_kv=300.0, semiangle_mrad=1.3)
    data = sige.load_measured(tmp_path / "scan.npy", tmp_path / "probe.npy", calibration=calibration, step_nm=1.0,
                              reference_fraction=0.34, composition_path=tmp_path / "x_ge.npy")
    assert data.patterns.shape == (6, 2, 16, 16) and data.pixel_size == 0.02 and data.origin == "measure"
    assert data.x_ge.shape == (6, 2) and data.x_ge[1, 1] == 0.18
    assert data.reference[:, 0].tolist() == [False] * 4 + [True] * 2
    np.testing.assert_allclose(data.x_nm, np.arange(6) + 0.5)
    assert data.thickness_nm is None and data.source.endswith("scan.npy")
    np.save(tmp_path / "bad.npy", np.full(5, 0.1))
    with pytest.raises(ValueError, match="Ge fractions of shape"):
        sige.load_measured(tmp_path / "scan.npy", tmp_path / "probe.npy", calibration=calibration,
                           composition_path=tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="probe_path"):
        sige.load_measured(tmp_path / "scan.npy", None, calibration=calibration)
    with pytest.raises(ValueError, match="Calibration"):
        sige.load_measured(tmp_path / "scan.npy", tmp_path / "probe.npy", calibration=0.02)


@pytest.mark.parametrize("fields, match", [
    ({"n_layers": 0}, "n_layers"), ({"x_ge": 1.5}, "x_ge"), ({"layer_nm": 40.0}, "layer_nm"),
    ({"thickness_nm": -1.0}, "thickness_nm"), ({"n_layers": 6}, "inside the field"),
    ({"reference_fraction": 1.0}, "reference_fraction"), ({"tilt_mrad": (-1.0, 2.0)}, "tilt_mrad"),
    ({"poisson_ratio": 0.6}, "poisson_ratio"), ({"dose_e": 0.0}, "dose_e"), ({"field_nm": (200.0,)}, "field_nm"),
])
def test_stack_rejects_bad_settings(fields, match):
    with pytest.raises(ValueError, match=match):
        sige.SiGeStack(**fields)


def test_layout_rejects_bad_input():
    with pytest.raises(ValueError, match="scan_shape"):
        sige.lay_out(STACK, (0, 4))
    with pytest.raises(ValueError, match="scan_shape"):
        sige.lay_out(STACK, 20)
    with pytest.raises(ValueError, match="seed"):
        sige.lay_out(STACK, (20, 4), seed=-1)
    with pytest.raises(ValueError, match="levels.composition"):
        sige.Levels(composition=1)
    with pytest.raises(ValueError, match="levels"):
        sige.lay_out(STACK, (20, 4), levels=(2, 3, 2))
    with pytest.raises(ValueError, match="reference_fraction"):
        sige.reference_mask((20, 4), 0.0)
    with pytest.raises(ValueError, match="unknown scale"):
        sige.fig5_setup("huge")


def test_every_scale_has_a_scan_across_all_five_layers():
    for scale in ("smoke", "default", "full", "paper"):
        shape, levels = sige.fig5_setup(scale)
        layout = sige.lay_out(STACK, shape, levels=levels)
        assert (layout.x_ge.max(axis=1) == 0.18).sum() >= 5
        assert layout.reference.any()
    assert sige.fig5_setup("paper")[0] == (200, 50)


def test_fig5_draws_with_and_without_a_ground_truth():
    from matplotlib.figure import Figure

    from fcunet_lib.plots.sige import plot_fig5

    x_nm, y_nm = np.arange(4) + 0.5, np.arange(2) + 0.5
    peaks = np.array([(8.0, 8.0, 1.0)], dtype=[("qx", float), ("qy", float), ("intensity", float)])
    outcome = {"e_xx": np.zeros((4, 2)), "e_yy": np.zeros((4, 2)), "profile_xx": np.zeros(4),
               "profile_yy": np.zeros(4), "exx_rms": 0.1, "eyy_rms": 0.2, "error": None}
    failed = outcome | {"e_xx": np.full((4, 2), np.nan), "exx_rms": None, "error": "no lattice"}
    example = {"rx": 1, "ry": 0, "x_nm": 1.5, "y_nm": 0.5, "label": "x", "pattern": np.ones((16, 16)),
               "peaks": {"correlation": peaks, "fcunet": peaks[:0]}}
    reference = sige.reference_mask((4, 2), 0.25)
    for maps, expected in (({"vbf": np.ones((4, 2)), "composition": np.zeros((4, 2)), "thickness": np.ones((4, 2)),
                             "tilt": np.ones((4, 2))}, np.zeros(4)), ({"vbf": np.ones((4, 2))}, None)):
        figure = plot_fig5(x_nm=x_nm, y_nm=y_nm, maps=maps, examples=[example],
                           strain={"correlation": outcome, "fcunet": failed}, reference=reference,
                           expected_xx=expected, title="t", tag="simulated stand-in")
        assert isinstance(figure, Figure)
        figure.savefig(io.BytesIO(), format="png", dpi=30)  # the layout resolves
    spectral = plot_fig5(x_nm=x_nm, y_nm=y_nm, maps={"vbf": np.ones((4, 2))}, examples=[example],
                         strain={"correlation": outcome, "fcunet": outcome}, reference=reference,
                         title="t", tag="simulated stand-in", network_label="U-Net (spectral)")
    texts = [ax.get_title() for ax in spectral.axes] + [sub._suptitle.get_text() for sub in spectral.subfigs
                                                        if sub._suptitle is not None]
    assert any("(h) U-Net (spectral) strain maps" in text for text in texts)
    assert any("(f1) U-Net (spectral): 0 peaks" in text for text in texts)
    assert not any("FCU-Net" in text for text in texts)
