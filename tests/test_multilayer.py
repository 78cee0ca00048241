"""The Fig. 3 multilayer: layout, strain and tilt profiles, the cell, the scan cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fcunet_lib import multilayer
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

A_S = multilayer.SUBSTRATE_A


# --------------------------------------------------------------------------- #
# Layout and profiles
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("n, layers, per_layer, substrate", [
    (2, 1, 1, 1), (4, 3, 1, 1), (20, 7, 2, 6), (201, 6, 25, 51),
])
def test_layout_fills_the_scan_with_layers_and_a_substrate(n, layers, per_layer, substrate):
    sample = multilayer.fig3_multilayer(n)
    assert (sample.n_layers, sample.layer_positions, sample.substrate_positions) == (layers, per_layer, substrate)
    assert sample.n_positions == n


@pytest.mark.parametrize("bad", [0, 1, 2.5, "4"])
def test_layout_rejects_too_few_positions(bad):
    with pytest.raises(ValueError, match="n_positions"):
        multilayer.fig3_multilayer(bad)


def test_sample_rejects_unphysical_settings():
    with pytest.raises(ValueError, match="Ge fractions"):
        multilayer.Multilayer(n_layers=2, layer_positions=1, substrate_positions=1, layer_x_ge=(1.5, 0.0))
    with pytest.raises(ValueError, match="thickness_nm"):
        multilayer.Multilayer(n_layers=2, layer_positions=1, substrate_positions=1, thickness_nm=0.0)


def test_layers_alternate_outward_from_the_substrate():
    sample = multilayer.fig3_multilayer(20)  # 7 layers of 2 positions, 6 substrate positions
    profile = multilayer.layer_profile(sample)
    assert profile["region"].tolist() == (["Si0.50Ge0.50"] * 2 + ["Si"] * 2) * 3 + ["Si0.50Ge0.50"] * 2 + ["substrate"] * 6
    assert profile["layer"].tolist() == [6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0] + [-1] * 6
    np.testing.assert_allclose(profile["x_nm"], np.arange(20) + 0.5)
    substrate = profile["region"] == "substrate"
    np.testing.assert_array_equal(profile["x_ge"][substrate], 0.25)
    np.testing.assert_array_equal(profile["a_x_A"][substrate], A_S)
    np.testing.assert_array_equal(profile["a_yz_A"], A_S)  # lattice-matched in the interface plane


def test_layers_are_strained_by_exactly_one_percent_along_x():
    profile = multilayer.layer_profile(multilayer.fig3_multilayer(20))
    sige = profile["region"] == "Si0.50Ge0.50"
    si = profile["region"] == "Si"
    np.testing.assert_array_equal(profile["lattice_strain"][sige], 0.01)
    np.testing.assert_array_equal(profile["lattice_strain"][si], -0.01)
    np.testing.assert_allclose(profile["a_x_A"][sige] / A_S, 1.01, rtol=1e-15)
    np.testing.assert_allclose(profile["a_x_A"][si] / A_S, 0.99, rtol=1e-15)
    np.testing.assert_array_equal(profile["x_ge"][sige], 0.5)
    np.testing.assert_array_equal(profile["x_ge"][si], 0.0)


def test_expected_strain_is_what_py4dstem_reads():
    sample = multilayer.fig3_multilayer(4)  # SiGe, Si, SiGe, substrate
    e_xx, e_yy = multilayer.expected_strain(sample)
    np.testing.assert_allclose(e_xx, [1 - 1 / 1.01, 1 - 1 / 0.99, 1 - 1 / 1.01, 0.0], rtol=1e-12, atol=1e-15)
    assert e_xx[0] == pytest.approx(0.0099009901) and e_xx[1] == pytest.approx(-0.0101010101)
    np.testing.assert_array_equal(e_yy, 0.0)


def test_the_helical_tilt_rises_linearly_and_turns():
    sample = multilayer.fig3_multilayer(20)
    tilt = multilayer.tilt_profile(sample, tilted=True)
    magnitude, azimuth = tilt["magnitude_deg"], tilt["azimuth_deg"]
    assert magnitude[0] == pytest.approx(4.4) and magnitude[-1] == pytest.approx(0.4)
    assert azimuth[0] == pytest.approx(315.0) and azimuth[-1] == pytest.approx(45.0)
    np.testing.assert_allclose(np.diff(magnitude), -4.0 / 19)
    np.testing.assert_allclose(np.diff(azimuth), -270.0 / 19)
    tx, ty = tilt["tilt_mrad"].T
    np.testing.assert_allclose(np.hypot(tx, ty), magnitude * 1000 * math.pi / 180)
    np.testing.assert_allclose(np.degrees(np.arctan2(ty, tx)) % 360, azimuth % 360, atol=1e-9)


def test_on_zone_has_no_tilt():
    tilt = multilayer.tilt_profile(multilayer.fig3_multilayer(20), tilted=False)
    np.testing.assert_array_equal(tilt["tilt_mrad"], 0.0)
    np.testing.assert_array_equal(tilt["magnitude_deg"], 0.0)


def test_positions_with_the_same_state_share_a_spec():
    sample = multilayer.fig3_multilayer(20)
    on_zone = multilayer.column_specs(sample, tilted=False)
    tilted = multilayer.column_specs(sample, tilted=True)
    assert len(on_zone) == len(tilted) == 20
    assert len(set(on_zone)) == 3  # Si0.5Ge0.5, Si, substrate
    assert len(set(tilted)) == 20  # the tilt differs at every position
    assert on_zone[0] == on_zone[4] and on_zone[0] != on_zone[2]
    assert multilayer.reference_mask(sample, 3).shape == (20, 3)
    assert multilayer.reference_mask(sample, 3)[14:].all() and not multilayer.reference_mask(sample, 3)[:14].any()


# --------------------------------------------------------------------------- #
# The [011] cell
# --------------------------------------------------------------------------- #
def test_column_crystal_is_diamond_seen_along_011():
    crystal = multilayer.column_crystal(A_S, A_S)
    atoms = crystal.atoms
    assert len(atoms) == 4
    np.testing.assert_allclose(np.diag(atoms.cell.array), [A_S, A_S / math.sqrt(2), A_S / math.sqrt(2)])
    distances = atoms.get_all_distances(mic=True)
    nearest = distances[distances > 0].min()
    assert nearest == pytest.approx(A_S * math.sqrt(3) / 4)  # the diamond bond
    assert crystal.extent_A[0] >= 46.08 and crystal.extent_A[1] >= 46.08


def test_column_crystal_strains_x_only():
    crystal = multilayer.column_crystal(1.01 * A_S, A_S)
    np.testing.assert_allclose(np.diag(crystal.atoms.cell.array),
                               [1.01 * A_S, A_S / math.sqrt(2), A_S / math.sqrt(2)])
    with pytest.raises(ValueError, match="positive"):
        multilayer.column_crystal(-1.0, A_S)


def test_the_basis_vectors_are_the_strongest_reflections_of_the_cell():
    from fcunet_lib.targets import structure_factor_spots

    sample = multilayer.fig3_multilayer(4)
    spots = structure_factor_spots(multilayer.column_crystal(A_S, A_S), k_max_inv_A=0.4)
    g = spots.g_inv_A[:, :2] / RECIPROCAL_PIXEL_SIZE
    strongest = g[np.argsort(-spots.amplitude_V)[1:5]]  # after the direct beam: the four {111}
    g1, g2 = multilayer.reciprocal_basis_px(sample)
    for expected in (g1, g2, -g1, -g2):
        assert np.min(np.hypot(*(strongest - expected).T)) < 1e-9
    forbidden = np.hypot(g[:, 0] - 2 / A_S / RECIPROCAL_PIXEL_SIZE, g[:, 1]).argmin()
    assert spots.amplitude_V[forbidden] < 1e-9  # (200) is kinematically forbidden in diamond


# --------------------------------------------------------------------------- #
# The scan and its cache
# --------------------------------------------------------------------------- #
class _CountingSimulator:
    """A cheap stand-in for the multislice: the pattern encodes the spec."""

    def __init__(self):
        self.calls = []

    def __call__(self, spec):
        self.calls.append(spec)
        pattern = np.full((16, 16), spec.a_x_A + spec.x_ge + spec.tilt_mrad[0], np.float32)
        probe = np.zeros((16, 16), np.float32)
        probe[6:11, 6:11] = 1.0
        return pattern, probe


def test_scan_simulates_each_distinct_state_once():
    sample = multilayer.fig3_multilayer(20)
    simulator = _CountingSimulator()
    scan = multilayer.simulate_scan(sample, n_y=3, tilted=False, pattern_size=16, simulator=simulator)
    assert len(simulator.calls) == scan.n_unique == scan.n_simulated == 3
    assert scan.data.shape == (20, 3, 16, 16) and scan.probe.shape == (16, 16)
    np.testing.assert_array_equal(scan.data[:, 0], scan.data[:, 2])  # every ry the same
    np.testing.assert_array_equal(scan.data[0], scan.data[4])  # the same layer kind
    assert scan.data[0, 0, 0, 0] == pytest.approx(1.01 * A_S + 0.5)
    assert scan.data[-1, 0, 0, 0] == pytest.approx(A_S + 0.25)
    tilted = multilayer.simulate_scan(sample, n_y=2, tilted=True, pattern_size=16, simulator=simulator)
    assert tilted.n_unique == tilted.n_simulated == 20


def test_scan_cache_is_reused_and_survives_damage(tmp_path):
    sample = multilayer.fig3_multilayer(4)
    first_simulator = _CountingSimulator()
    first = multilayer.simulate_scan(sample, n_y=2, tilted=True, pattern_size=16, cache_dir=tmp_path,
                                     simulator=first_simulator)
    assert first.n_simulated == 4 and len(list(tmp_path.glob("*.npz"))) == 4
    entries = set(tmp_path.glob("*.npz"))
    again = _CountingSimulator()
    second = multilayer.simulate_scan(sample, n_y=2, tilted=True, pattern_size=16, cache_dir=tmp_path,
                                      simulator=again)
    assert second.n_simulated == 0 and not again.calls
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.probe, second.probe)
    # another pattern size is another simulation
    other = multilayer.simulate_scan(sample, n_y=2, tilted=True, pattern_size=32, cache_dir=tmp_path,
                                     simulator=_CountingSimulator())
    assert other.n_simulated == 4 and len(list(tmp_path.glob("*.npz"))) == 8
    # a truncated cache file is simulated again, not trusted
    damaged = min(entries)
    damaged.write_bytes(damaged.read_bytes()[:20])
    repaired = multilayer.simulate_scan(sample, n_y=2, tilted=True, pattern_size=16, cache_dir=tmp_path,
                                        simulator=_CountingSimulator())
    assert repaired.n_simulated == 1


def test_virtual_bright_field_integrates_the_direct_disk():
    probe = np.zeros((32, 32))
    qx, qy = np.mgrid[:32, :32]
    probe[np.hypot(qx - 16, qy - 16) <= 4] = 1.0
    data = np.zeros((2, 3, 32, 32))
    data[0, 0] = probe
    data[1, 2] = 2 * probe
    data[1, 1, 0, 0] = 5.0  # far outside the disk: not counted
    image = multilayer.virtual_bright_field(data, probe)
    assert image.shape == (2, 3)
    assert image[1, 2] == pytest.approx(2 * image[0, 0]) and image[0, 0] > 40
    assert image[1, 1] == 0.0
    with pytest.raises(ValueError, match="probe"):
        multilayer.virtual_bright_field(data[0], probe)


# --------------------------------------------------------------------------- #
# Strain: exact disk positions give the expected profile
# --------------------------------------------------------------------------- #
def _exact_bragg_vectors(sample, n_y, size=64):
    from emdfile import PointListArray
    from py4DSTEM import BraggVectors

    from fcunet_lib.targets import structure_factor_spots

    profile = multilayer.layer_profile(sample)
    vectors = PointListArray(dtype=[("qx", float), ("qy", float), ("intensity", float)],
                             shape=(sample.n_positions, n_y))
    for i in range(sample.n_positions):
        crystal = multilayer.column_crystal(profile["a_x_A"][i], profile["a_yz_A"][i])
        spots = structure_factor_spots(crystal, k_max_inv_A=0.6)
        keep = spots.amplitude_V > 0.05 * spots.amplitude_V.max()
        position = spots.positions_px(size)[keep]
        peaks = np.zeros(len(position), vectors.dtype)
        peaks["qx"], peaks["qy"], peaks["intensity"] = position[:, 0], position[:, 1], spots.amplitude_V[keep]
        for j in range(n_y):
            vectors[i, j].add(peaks)
    bv = BraggVectors((sample.n_positions, n_y), (size, size))
    bv.set_raw_vectors(vectors)
    return bv


@pytest.mark.slow
def test_exact_disk_positions_give_the_expected_strain():
    sample = multilayer.fig3_multilayer(4)
    outcome = multilayer.measure_strain(_exact_bragg_vectors(sample, 2), sample, n_y=2)
    assert outcome["error"] is None and outcome["n_fitted"] == outcome["n_layer_positions"] == 6
    expected_xx, _ = multilayer.expected_strain(sample)
    np.testing.assert_allclose(outcome["profile_xx"], 100 * expected_xx, atol=1e-6)
    np.testing.assert_allclose(outcome["profile_yy"], 0.0, atol=1e-6)
    assert outcome["exx_rms"] < 1e-6 and outcome["eyy_rms"] < 1e-6


def test_a_scan_without_a_lattice_reports_why_instead_of_raising():
    from emdfile import PointListArray
    from py4DSTEM import BraggVectors

    sample = multilayer.fig3_multilayer(4)
    vectors = PointListArray(dtype=[("qx", float), ("qy", float), ("intensity", float)], shape=(4, 1))
    for i in range(4):
        vectors[i, 0].add(np.array([(32.0, 32.0, 1.0)], vectors.dtype))  # the direct beam only
    bv = BraggVectors((4, 1), (64, 64))
    bv.set_raw_vectors(vectors)
    outcome = multilayer.measure_strain(bv, sample, n_y=1)
    assert outcome["error"] and outcome["exx_rms"] is None and outcome["n_fitted"] == 0
    assert np.isnan(outcome["e_xx"]).all()


@pytest.mark.slow
def test_one_column_simulation_is_a_centred_011_pattern():
    sample = multilayer.fig3_multilayer(4)
    spec = multilayer.column_specs(sample, tilted=False)[-1]  # the substrate
    pattern, probe = multilayer.simulate_column(spec, energy_kv=200.0, semiangle_mrad=2.0, thickness_nm=4.0,
                                                pattern_size=64)
    assert pattern.shape == probe.shape == (64, 64) and probe.max() == pytest.approx(1.0)
    assert np.all(np.isfinite(pattern)) and pattern.min() >= 0
    # a thin crystal: the direct disk is centred and the {111} disks sit where the basis says
    g1, _ = multilayer.reciprocal_basis_px(sample)
    qx, qy = np.mgrid[:64, :64]
    for g in (np.zeros(2), g1):
        disk = np.hypot(qx - 32 - g[0], qy - 32 - g[1]) <= 3
        centre = np.array([(pattern * disk * q).sum() / (pattern * disk).sum() for q in (qx, qy)])
        np.testing.assert_allclose(centre, 32 + g, atol=0.15)


def test_fig3_names_the_network_behind_the_learned_finder():
    from fcunet_lib.plots import strain as plots_strain

    sample = multilayer.fig3_multilayer(4)
    n_x, n_y = sample.n_positions, 2
    outcome = {"e_xx": np.zeros((n_x, n_y)), "e_yy": np.zeros((n_x, n_y)), "profile_xx": np.zeros(n_x),
               "profile_yy": np.zeros(n_x), "exx_rms": 0.1, "eyy_rms": 0.2, "error": None}
    content = {"vbf": np.ones((n_x, n_y)), "examples": {0: np.ones((16, 16))},
               "strain": {"correlation": outcome, "fcunet": outcome}}
    texts = {}
    for label in ("FCU-Net", "U-Net (spectral)"):
        figure = plots_strain.plot_fig3(sample, {"on_zone": content}, n_y=n_y, network_label=label)
        texts[label] = "\n".join(ax.get_title() for ax in figure.axes)
    assert "U-Net (spectral) ε$_{xx}$ [%]" in texts["U-Net (spectral)"]
    assert "U-Net (spectral): 0.10 %" in texts["U-Net (spectral)"]
    assert "FCU-Net" not in texts["U-Net (spectral)"] and "FCU-Net ε$_{yy}$ [%]" in texts["FCU-Net"]
    assert plots_strain.method_labels("U-Net")["fcunet"] == "U-Net"
    assert plots_strain.method_labels()["correlation"] == "correlation"
