"""Physics and contract tests of orientation and CBED simulation (seconds each)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from fcunet_lib import orientation, simulate, targets
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

abtem = pytest.importorskip("abtem")

SI_A = 5.431


pytestmark = pytest.mark.usefixtures("quick_abtem")


@pytest.fixture(scope="module")
def silicon():
    return bulk("Si", "diamond", a=SI_A, cubic=True)


@pytest.fixture(scope="module")
def si110(silicon):
    return orientation.zone_axis_crystal(silicon, (1, 1, 0))


@pytest.fixture(scope="module")
def thin_si110(si110):
    """Si[110], 300 kV, 2 mrad, 4 nm, 128² patterns (the zone axis needs resampling in y)."""
    return simulate.simulate_cbed_series(
        si110,
        energy_kv=300,
        semiangle_mrad=2.0,
        thicknesses_nm=[0.4, 4.0],
        pattern_size=128,
        return_metadata=True,
    )


def _disk_radius_px(energy_kv, semiangle_mrad):
    from abtem.core.energy import energy2wavelength

    return semiangle_mrad * 1e-3 / energy2wavelength(energy_kv * 1e3) / RECIPROCAL_PIXEL_SIZE


def _centre_of_mass(image, centre, radius):
    ix, iy = np.indices(image.shape)
    window = (ix - centre[0]) ** 2 + (iy - centre[1]) ** 2 <= radius**2
    weights = image * window
    return np.array([(weights * ix).sum(), (weights * iy).sum()]) / weights.sum(), weights.sum()


# --------------------------------------------------------------------------- #
# Orientation
# --------------------------------------------------------------------------- #
def test_zone_axis_cell_is_the_oriented_crystal(si110):
    lengths = np.diag(si110.atoms.cell.array)
    np.testing.assert_allclose(lengths, [SI_A / math.sqrt(2), SI_A, SI_A / math.sqrt(2)], rtol=1e-9)
    assert len(si110.atoms) == 4  # 8 atoms per a³; this cell is a³/2
    # The rotation takes [110] to the beam (+z) and is proper.
    beam = si110.rotation @ np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(beam / np.linalg.norm(beam), [0, 0, 1], atol=1e-12)
    assert np.isclose(np.linalg.det(si110.rotation), 1.0)
    assert si110.transform_strain < 1e-9
    assert si110.plane_indices == (1, 1, 0)
    assert all(length >= 46.08 - 1e-9 for length in si110.extent_A)


def test_zone_axis_refuses_strained_cells():
    from pymatgen.core import Lattice, Structure

    zno = Structure.from_spacegroup(
        "P6_3mc",
        Lattice.hexagonal(3.25, 5.21),
        ["Zn", "O"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]],
    )
    with pytest.raises(ValueError, match="expected at most"):
        orientation.zone_axis_crystal(zno, (1, 0, 1))
    hexagonal = orientation.zone_axis_crystal(zno, (1, 0, 0))
    assert hexagonal.plane_indices == (2, -1, 0)  # metric tensor: [100] ⟂ (2-10)


def test_low_index_zone_axes_are_distinct_and_ordered(silicon):
    axes = orientation.low_index_zone_axes(silicon, count=5)
    assert axes == [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 1, 0), (2, 1, 1)]


def test_bad_orientation_input(silicon):
    with pytest.raises(ValueError, match="expected a non-zero integer zone axis"):
        orientation.zone_axis_crystal(silicon, (0, 0, 0))
    with pytest.raises(ValueError, match="expected a pymatgen Structure or ase Atoms"):
        orientation.zone_axis_crystal("Si", (1, 0, 0))
    with pytest.raises(ValueError, match="expected thickness_nm > 0"):
        orientation.random_orientation_crystal(silicon, thickness_nm=-1)
    with pytest.raises(ValueError, match="exceeds"):
        orientation.mistilt_mrad(10, 0, unit="deg")
    with pytest.raises(ValueError, match="orthogonal"):
        simulate.simulate_cbed_series(
            bulk("Si"), energy_kv=300, semiangle_mrad=2, thicknesses_nm=[1], pattern_size=64
        )


def test_mistilt_helpers():
    np.testing.assert_allclose(
        orientation.mistilt_mrad(1.0, 90.0, unit="deg"), [0, 1000 * math.pi / 180], atol=1e-9
    )
    rng = np.random.default_rng(0)
    tilts = np.array([orientation.random_mistilt_mrad(rng, max_deg=3.0) for _ in range(50)])
    assert np.all(np.hypot(*tilts.T) <= 3.0 * 1000 * math.pi / 180 + 1e-9)
    assert np.allclose(
        orientation.random_mistilt_mrad(1, max_deg=3), orientation.random_mistilt_mrad(1, max_deg=3)
    )


def test_beam_direction_matches_abtem_tilt():
    """A tilted probe drifts with depth along the beam_direction used by the targets."""
    atoms = Atoms("H", positions=[(0.5, 0.5, 0.5)], cell=(46.08, 46.08, 400.0), pbc=True)
    potential = abtem.Potential(atoms, gpts=256, slice_thickness=20, exit_planes=(0, 19))
    tilt = (30.0, -20.0)
    probe = abtem.Probe(semiangle_cutoff=10, energy=300e3, tilt=tilt)
    waves = probe.multislice(potential, scan=(23.04, 23.04)).compute(scheduler="synchronous")
    intensity = np.abs(waves.array) ** 2
    x = np.arange(256) * 46.08 / 256
    com = np.array([[(i.sum(1) * x).sum(), (i.sum(0) * x).sum()] / i.sum() for i in intensity])
    drift = (com[1] - com[0]) / (400.0 - 20.0)
    beam = orientation.beam_direction(tilt)
    np.testing.assert_allclose(drift, beam[:2] / beam[2], atol=2e-3)


# --------------------------------------------------------------------------- #
# Simulation contract
# --------------------------------------------------------------------------- #
def test_setting_validation():
    with pytest.raises(ValueError, match="expected projection"):
        simulate.SimulationSetting(projection="exact")
    with pytest.raises(ValueError, match="expected gpts"):
        simulate.SimulationSetting(gpts=10)
    with pytest.raises(ValueError, match="thermal_sigma_A > 0"):
        simulate.SimulationSetting(frozen_phonons=2)
    with pytest.raises(ValueError, match="thermal_sigma_A = 0"):
        simulate.SimulationSetting(thermal_sigma_A=0.08)
    assert simulate.DEFAULT_SETTING.max_pattern_size == 256
    assert simulate.SimulationSetting(gpts=256).max_pattern_size < 256


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"thicknesses_nm": [-2.0]}, "expected thicknesses > 0 nm"),
        ({"thicknesses_nm": [4.0, 2.0]}, "strictly increasing"),
        ({"thicknesses_nm": [2.0, 2.01]}, "closer than one slice"),
        ({"semiangle_mrad": 0.0}, "expected semiangle_mrad > 0"),
        ({"semiangle_mrad": 80.0}, "exceeds the band limit"),
        ({"energy_kv": -300.0}, "expected energy_kv"),
        ({"pattern_size": 100}, "power of two"),
        ({"pattern_size": 512}, "expected pattern_size <= 256"),
        ({"tilt_mrad": (200.0, 0.0)}, "expected tilt_mrad"),
        ({"aperture": "annular"}, "expected aperture"),
        ({"probe_position_A": (-1.0, 3.0)}, "expected probe_position_A"),
    ],
)
def test_bad_simulation_input(si110, changes, message):
    kwargs = {
        "energy_kv": 300,
        "semiangle_mrad": 2,
        "thicknesses_nm": [2.0],
        "pattern_size": 64,
    } | changes
    with pytest.raises(ValueError, match=message):
        simulate.simulate_cbed_series(si110, **kwargs)


def test_block_thickness_is_bounded(silicon):
    block = orientation.random_orientation_crystal(silicon, thickness_nm=1.0, seed=0)
    with pytest.raises(ValueError, match="expected thicknesses up to the block"):
        simulate.exit_thicknesses_nm(block, [2.0])


def test_metadata_records_setting_and_realised_thicknesses(si110, thin_si110):
    patterns, probe, metadata = thin_si110
    assert patterns.shape == (2, 128, 128) and probe.shape == (128, 128)
    assert patterns.dtype == np.float32 and probe.dtype == np.float32
    assert metadata["setting"] == simulate.DEFAULT_SETTING.to_dict()
    realised = simulate.exit_thicknesses_nm(si110, [0.4, 4.0])
    assert metadata["thicknesses_nm"] == list(realised)
    slice_nm = metadata["slice_thickness_A"] / 10
    assert np.all(np.abs(np.array(realised) - [0.4, 4.0]) <= slice_nm / 2 + 1e-9)
    assert metadata["resampled"] is True  # 9 × 5.431 Å = 48.88 Å in y
    assert metadata["reciprocal_pixel_inv_A"] == RECIPROCAL_PIXEL_SIZE


def test_resampling_keeps_centre_and_identity():
    rng = np.random.default_rng(1)
    image = rng.random((1, 65, 65))
    same = simulate._to_library_grid(image, (RECIPROCAL_PIXEL_SIZE,) * 2, 64)
    np.testing.assert_allclose(same[0], image[0, 0:64, 0:64], atol=1e-12)
    # A smooth blob at k0 stays at k0 on the new grid.
    n, dk = 101, RECIPROCAL_PIXEL_SIZE * 0.93
    k = (np.arange(n) - n // 2) * dk
    k0 = (0.31, -0.17)
    blob = np.exp(-((k[:, None] - k0[0]) ** 2 + (k[None, :] - k0[1]) ** 2) / (2 * 0.05**2))
    out = simulate._to_library_grid(blob[None], (dk, dk), 64)[0]
    com, _ = _centre_of_mass(
        out, (32 + k0[0] / RECIPROCAL_PIXEL_SIZE, 32 + k0[1] / RECIPROCAL_PIXEL_SIZE), 12
    )
    np.testing.assert_allclose(
        (com - 32) * RECIPROCAL_PIXEL_SIZE, k0, atol=0.01 * RECIPROCAL_PIXEL_SIZE
    )


# --------------------------------------------------------------------------- #
# Physics
# --------------------------------------------------------------------------- #
def test_probe_is_centred_and_normalised(thin_si110):
    patterns, probe, _ = thin_si110
    assert probe.max() == pytest.approx(1.0)
    com, _ = _centre_of_mass(probe, (64, 64), 20)
    np.testing.assert_allclose(com, [64, 64], atol=0.02)
    radius = _disk_radius_px(300, 2.0)
    assert (probe > 0.5).sum() == pytest.approx(math.pi * radius**2, rel=0.1)
    # 0.4 nm of Si scatters almost nothing outside the window: sum ratio ≈ 1.
    ratio = patterns.sum(axis=(1, 2)) / probe.sum()
    assert 0.99 < ratio[0] <= 1.0 + 1e-4
    assert ratio[1] < ratio[0]


def test_bullseye_and_other_energies(si110):
    for energy_kv, semiangle in ((80, 3.4), (200, 4.0)):
        circular = simulate.simulate_cbed_series(
            si110,
            energy_kv=energy_kv,
            semiangle_mrad=semiangle,
            thicknesses_nm=[0.4],
            pattern_size=64,
        )[1]
        bullseye = simulate.simulate_cbed_series(
            si110,
            energy_kv=energy_kv,
            semiangle_mrad=semiangle,
            thicknesses_nm=[0.4],
            pattern_size=64,
            aperture="bullseye",
        )[1]
        assert bullseye.max() == pytest.approx(1.0) and circular.max() == pytest.approx(1.0)
        assert bullseye.sum() < 0.8 * circular.sum()
        assert (circular > 0.5).sum() == pytest.approx(
            math.pi * _disk_radius_px(energy_kv, semiangle) ** 2, rel=0.1
        )


def test_bragg_disks_sit_on_target_peaks(si110, thin_si110):
    # 0.4 nm: the excitation error varies across a disk (Ewald-sphere curvature),
    # which at 4 nm already pulls the intensity centroid of the outer disks
    # 0.5 px inwards; the thinnest pattern keeps disks flat, so the centroid is
    # the geometric centre.
    patterns, _, metadata = thin_si110
    cbed = patterns[0]
    radius = _disk_radius_px(300, 2.0)
    spots = targets.structure_factor_spots(
        si110, k_max_inv_A=(64 - radius - 4) * RECIPROCAL_PIXEL_SIZE
    )
    strong = (spots.amplitude_V > 0.2 * np.sort(spots.amplitude_V)[-2]) & (
        np.abs(spots.g_inv_A[:, :2]).sum(1) > 0
    )
    positions = spots.positions_px(128)[strong]
    assert len(positions) >= 12
    errors = []
    for position in positions:
        com, total = _centre_of_mass(cbed, position, radius + 2)
        errors.append(np.linalg.norm(com - position))
    assert max(errors) < 0.2, errors


def test_friedel_pairs_on_zone_thin(si110, thin_si110):
    patterns, _, _ = thin_si110
    radius = _disk_radius_px(300, 2.0)
    spots = targets.structure_factor_spots(si110, k_max_inv_A=1.0)
    g = spots.g_inv_A[:, :2]
    positions = spots.positions_px(128)
    checked = 0
    for i in np.argsort(-spots.amplitude_V)[1:13]:
        j = np.argmin(np.linalg.norm(g + g[i], axis=1))
        a = _centre_of_mass(patterns[1], positions[i], radius + 1)[1]
        b = _centre_of_mass(patterns[1], positions[j], radius + 1)[1]
        assert a == pytest.approx(b, rel=0.05)
        checked += 1
    assert checked == 12


def test_random_orientation_block_needs_no_resampling(silicon):
    block = orientation.random_orientation_crystal(silicon, thickness_nm=1.0, seed=2)
    assert block.extent_A == (46.08, 46.08) and not block.z_periodic
    patterns, probe, metadata = simulate.simulate_cbed_series(
        block,
        energy_kv=300,
        semiangle_mrad=2,
        thicknesses_nm=[0.5, 1.0],
        pattern_size=64,
        return_metadata=True,
    )
    assert metadata["resampled"] is False and metadata["simulated_gpts"] == [384, 384]
    assert patterns.shape == (2, 64, 64) and np.all(np.isfinite(patterns))


def test_tilted_probe_image_is_the_untilted_one(si110, thin_si110):
    _, probe = simulate.simulate_cbed_series(
        si110,
        energy_kv=300,
        semiangle_mrad=2.0,
        thicknesses_nm=[0.4],
        pattern_size=128,
        tilt_mrad=(20.0, -10.0),
    )
    np.testing.assert_allclose(probe, thin_si110[1], atol=1e-6)


def test_job_with_frozen_phonons_and_target(si110):
    setting = simulate.SimulationSetting(frozen_phonons=2, thermal_sigma_A=0.08)
    job = simulate.simulate_with_target(
        si110,
        energy_kv=300,
        semiangle_mrad=2.0,
        thicknesses_nm=[1.0, 2.0],
        pattern_size=64,
        setting=setting,
        tilt_mrad=(5.0, 0.0),
    )
    assert job["cbed"].shape == job["target"].shape == (2, 64, 64)
    metadata = job["metadata"]
    assert (
        metadata["setting"]["frozen_phonons"] == 2 and metadata["target"]["units"] == "V*Angstrom"
    )
    expected = targets.structure_factor_target(
        si110,
        thicknesses_nm=metadata["thicknesses_nm"],
        pattern_size=64,
        tilt_mrad=(5.0, 0.0),
        thermal_sigma_A=0.08,
    )
    np.testing.assert_allclose(job["target"], expected)
    # Debye–Waller damping lowers high-g spots relative to the static lattice.
    static = targets.structure_factor_target(
        si110, thicknesses_nm=metadata["thicknesses_nm"], pattern_size=64, tilt_mrad=(5.0, 0.0)
    )
    assert job["target"].sum() < static.sum()


def test_grid_terminates_for_prime_repetitions():
    from fcunet_lib.simulate import _unit_gpts

    g = _unit_gpts(3.795, 13, 0.12)
    assert g * 13 % 2 == 0 and 3.795 / g <= 0.12
