"""The Fig. 3 multilayer as one supercell: layout, atoms, potentials and the line scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fcunet_lib import multilayer, multilayer_supercell
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

A_S = multilayer.SUBSTRATE_A


def _thin_sample(**overrides):
    """One wide Si0.5Ge0.5 layer (+1 %) on the substrate, 2 nm thick: a quick real simulation."""
    fields = dict(n_layers=1, layer_positions=3, substrate_positions=3, step_nm=2.0, layer_x_ge=(0.5,),
                  layer_strain=(0.01,), thickness_nm=2.0)
    return multilayer.Multilayer(**(fields | overrides))


# --------------------------------------------------------------------------- #
# Layout (pure)
# --------------------------------------------------------------------------- #
def test_every_probe_sits_in_its_own_region():
    sample = multilayer.fig3_multilayer(20)
    layout = multilayer_supercell.supercell_layout(sample)
    expected = multilayer.layer_profile(sample)["region"]
    np.testing.assert_array_equal(multilayer_supercell.regions_at(layout, layout.probe_x_A), expected)
    assert np.all(np.diff(layout.probe_x_A) > 0)


def test_regions_are_whole_cells_of_their_own_lattice_close_to_their_nominal_width():
    sample = multilayer.fig3_multilayer(20, step_nm=2.5)
    layout = multilayer_supercell.supercell_layout(sample, buffer_nm=3.0)
    profile = multilayer.layer_profile(sample)
    # slab 0 and the last slab are the buffers; between them one slab per layer and one substrate slab
    assert len(layout.cells) == sample.n_layers + 1 + 2
    inner = slice(1, -1)
    widths = (np.asarray(layout.cells) * np.asarray(layout.a_x_A))[inner]
    nominal = np.array([sample.layer_positions] * sample.n_layers + [sample.substrate_positions]) * 25.0
    assert np.all(np.abs(widths - nominal) <= 0.5 * np.asarray(layout.a_x_A)[inner] + 1e-9)
    first_of_run = np.concatenate([np.arange(sample.n_layers) * sample.layer_positions,
                                   [sample.n_layers * sample.layer_positions]])
    np.testing.assert_array_equal(np.asarray(layout.a_x_A)[inner], profile["a_x_A"][first_of_run])
    np.testing.assert_array_equal(np.asarray(layout.x_ge)[inner], profile["x_ge"][first_of_run])
    # the buffers continue the far-side layer and the substrate, at least buffer_nm wide
    assert layout.region[0] == profile["region"][0] and layout.region[-1] == "substrate"
    assert layout.cells[0] * layout.a_x_A[0] >= 30.0 and layout.cells[-1] * layout.a_x_A[-1] >= 30.0
    assert layout.probe_x_A[0] > 30.0 and layout.length_A - layout.probe_x_A[-1] > 30.0


def test_layout_rejects_a_non_positive_buffer():
    with pytest.raises(ValueError, match="buffer_nm"):
        multilayer_supercell.supercell_layout(multilayer.fig3_multilayer(4), buffer_nm=0.0)


# --------------------------------------------------------------------------- #
# Atoms
# --------------------------------------------------------------------------- #
def test_supercell_atoms_carry_their_region_composition_and_lattice():
    sample = multilayer.fig3_multilayer(20)
    layout = multilayer_supercell.supercell_layout(sample)
    crystal, x_ge = multilayer_supercell.supercell_crystal(layout)
    atoms = crystal.atoms
    assert len(atoms) == 4 * sum(layout.cells) and len(x_ge) == len(atoms)
    side = A_S / math.sqrt(2.0)
    np.testing.assert_allclose(np.diag(atoms.cell.array), [layout.length_A, side, side])
    assert crystal.repetitions[0] == 1 and crystal.extent_A[1] >= 46.08
    # every site's composition is its slab's (sites sit at ≥ a_x/4 from the slab edges but on them)
    regions = multilayer_supercell.regions_at(layout, atoms.positions[:, 0] + 1e-6)
    by_region = {r: x for r, x in zip(layout.region, layout.x_ge)}
    np.testing.assert_array_equal(x_ge, [by_region[r] for r in regions])
    # within a slab the cells repeat with that slab's a_x: the x of the sites at y = z = 0
    corner = np.flatnonzero(np.all(np.abs(atoms.positions[:, 1:]) < 1e-6, axis=1))
    starts = layout.slab_starts_A
    for slab, (a_x, n) in enumerate(zip(layout.a_x_A, layout.cells)):
        inside = corner[(atoms.positions[corner, 0] >= starts[slab] - 1e-6)
                        & (atoms.positions[corner, 0] < starts[slab + 1] - 1e-6)]
        np.testing.assert_allclose(np.diff(np.sort(atoms.positions[inside, 0])), a_x, atol=1e-9)
        assert len(inside) == n


def test_per_site_virtual_crystal_is_the_sum_of_its_groups():
    import abtem

    unit = multilayer.column_crystal(A_S, A_S).atoms
    options = {"gpts": (24, 16), "slice_thickness": unit.cell[2, 2] / 2, "projection": "infinite",
               "parametrization": "lobato"}
    uniform = multilayer._virtual_crystal_unit(unit, 0.3, options).array
    per_site = multilayer._virtual_crystal_unit(unit, np.full(len(unit), 0.3), options).array
    np.testing.assert_array_equal(per_site, uniform)
    mixed = np.where(np.arange(len(unit)) < 2, 0.0, 1.0)
    expected = 0.0
    for number, selected in ((14, mixed == 0), (32, mixed == 1)):
        group = unit[selected].copy()
        group.numbers[:] = number
        expected = expected + np.asarray(abtem.Potential(group, **options).build().compute().array)
    np.testing.assert_allclose(multilayer._virtual_crystal_unit(unit, mixed, options).array, expected,
                               rtol=1e-6, atol=1e-6 * float(np.abs(expected).max()))


# --------------------------------------------------------------------------- #
# Simulation (abTEM)
# --------------------------------------------------------------------------- #
def _disk_fractions(pattern, sample):
    """Share of the pattern's intensity in the direct and first-order disks (0.8 of the radius)."""
    g1, g2 = multilayer.reciprocal_basis_px(sample, pixel_size=RECIPROCAL_PIXEL_SIZE)
    from fcunet_lib.userdata import electron_wavelength

    radius = 0.8 * sample.semiangle_mrad * 1e-3 / electron_wavelength(sample.energy_kv) / RECIPROCAL_PIXEL_SIZE
    n = pattern.shape[0]
    qx, qy = np.mgrid[:n, :n]
    shares = []
    for h, k in ((0, 0), (1, 0), (0, 1), (1, -1), (-1, 0), (0, -1)):
        centre = n // 2 + h * g1 + k * g2
        shares.append(pattern[np.hypot(qx - centre[0], qy - centre[1]) <= radius].sum())
    return np.array(shares) / pattern.sum()


@pytest.mark.slow
def test_inside_a_wide_region_the_supercell_gives_that_regions_bulk_pattern():
    sample = _thin_sample()
    scan = multilayer_supercell.simulate_supercell_scan(sample, n_y=1, tilted=False, pattern_size=64,
                                                        buffer_nm=1.0)
    assert scan.data.shape == (6, 1, 64, 64) and scan.n_unique == 6 and scan.n_simulated == 6
    assert abs(float(scan.probe.max()) - 1.0) < 1e-6
    bulk = {}
    for name, spec in (("layer", multilayer.ColumnSpec.rounded(1.01 * A_S, A_S, 0.5, (0.0, 0.0))),
                       ("substrate", multilayer.ColumnSpec.rounded(A_S, A_S, 0.25, (0.0, 0.0)))):
        pattern, _ = multilayer.simulate_column(spec, energy_kv=sample.energy_kv,
                                                semiangle_mrad=sample.semiangle_mrad,
                                                thickness_nm=sample.thickness_nm, pattern_size=64)
        bulk[name] = _disk_fractions(pattern, sample)
    for rx, region in enumerate(["layer"] * 3 + ["substrate"] * 3):
        other = "substrate" if region == "layer" else "layer"
        shares = _disk_fractions(scan.data[rx, 0], sample)
        # within a few percent of its own bulk crystal (grids differ), far from the other one
        assert np.abs(shares / bulk[region] - 1).max() < 0.04, rx
        assert np.abs(shares / bulk[other] - 1).max() > 0.10, rx


@pytest.mark.slow
def test_supercell_scan_is_cached_per_position_and_resumes(tmp_path):
    sample = _thin_sample(layer_positions=1, substrate_positions=1, thickness_nm=1.0)
    run = dict(n_y=2, tilted=True, pattern_size=32, cache_dir=tmp_path, buffer_nm=1.0)
    first = multilayer_supercell.simulate_supercell_scan(sample, **run)
    assert first.n_simulated == 2 and first.data.shape == (2, 2, 32, 32)
    np.testing.assert_array_equal(first.data[:, 0], first.data[:, 1])  # a line scan repeated along ry
    assert [spec.tilt_mrad for spec in first.specs] == [
        tuple(t) for t in multilayer.tilt_profile(sample, tilted=True)["tilt_mrad"].round(6)]
    again = multilayer_supercell.simulate_supercell_scan(sample, **run)
    assert again.n_simulated == 0
    np.testing.assert_array_equal(again.data, first.data)
    files = sorted(tmp_path.glob("supercell-*.npz"))
    positions = [f for f in files if "pattern" in np.load(f).files]
    assert len(files) == 3 and len(positions) == 2  # two positions and the vacuum probe
    positions[0].write_bytes(b"damaged")  # a killed write or a damaged file is simulated again
    resumed = multilayer_supercell.simulate_supercell_scan(sample, **run)
    assert resumed.n_simulated == 1
    np.testing.assert_array_equal(resumed.data, first.data)


def test_positions_and_tilts_must_pair_up():
    layout = multilayer_supercell.supercell_layout(_thin_sample())
    with pytest.raises(ValueError, match="one tilt per position"):
        multilayer_supercell.simulate_supercell_positions(
            layout, [(10.0, 5.0), (20.0, 5.0)], [(0.0, 0.0)], energy_kv=200.0, semiangle_mrad=2.0,
            thickness_nm=1.0, pattern_size=32)


@pytest.mark.slow
@pytest.mark.after_notebooks
def test_notebook_07_runs_the_supercell_model(tmp_path, monkeypatch):
    import json
    import os

    from fcunet_lib import config, runner, training_run

    try:
        training_run.require_models(["fcunet"], training_run.scale_models_dir("smoke"), scale="smoke")
    except FileNotFoundError:
        if os.environ.get("FCUNET_REQUIRE_SMOKE") == "1":
            raise
        pytest.skip("the smoke FCU-Net is trained by notebook 04 at smoke scale (`make test` runs it first)")
    monkeypatch.setenv("FCUNET_RESULTS_DIR", str(tmp_path / "figures"))
    runner.run_notebook(config.notebooks_dir() / "07_strain_simulated.py", scale="smoke",
                        parameters={"approximation": "supercell"}, output_dir=tmp_path, progress=False)
    record = json.loads((tmp_path / "figures" / "fig3_strain_simulated.json").read_text())
    numbers = record["numbers"]
    assert numbers["approximation"] == "supercell" and "supercell model" in record["data"]
    n_x = config.get_scale("smoke").evaluation.scan_shape[0]
    assert numbers["n_simulations"] == {"on_zone": n_x, "mistilt": n_x}  # one run per position
