"""The summaries and figures of Fig. 1a and Fig. 1b, on a tiny fake library.

The library is built with :func:`fcunet_lib.library.build_library` and a fake
job function that draws disks and Gaussian target spots on a square lattice,
so every summary number is known in advance.
"""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from fcunet_lib import augment, library
from fcunet_lib.plots import augment as plots_augment
from fcunet_lib.plots import library as plots_library

N = 48
THICKNESSES = (5.0, 10.0, 20.0)
SPACING = 10
DISK_RADIUS = 3.0
MATERIALS = [f"m{i}" for i in range(6)]
PROTOTYPES = {"m0": "P_a", "m1": "P_a", "m2": "P_a", "m3": "P_b", "m4": "P_b", "m5": "P_c"}
METADATA = {
    "simulation_settings": {"pattern_size": N, "max_mistilt_deg": 3.0, "min_off_zone_deg": 1.0},
    "simulation_setting": {"gpts": 384, "slice_thickness_A": 2.0, "projection": "infinite",
                           "frozen_phonons": 0, "sampling_A": 0.12},
    "reciprocal_pixel_size_inv_A": 0.0217,
}


def _disk(centre, radius):
    x = np.arange(N)[:, None] - centre[0]
    y = np.arange(N)[None, :] - centre[1]
    return np.clip(radius + 0.5 - np.hypot(x, y), 0, 1)


def _spot(centre, sigma=0.75):
    x = np.arange(N)[:, None] - centre[0]
    y = np.arange(N)[None, :] - centre[1]
    return np.exp(-(x**2 + y**2) / (2 * sigma**2))


def fake_job(job):
    """Disks and target spots on a 3×3 lattice; target ∝ thickness."""
    centre = np.array([N // 2, N // 2])
    offsets = [np.array([i, j]) * SPACING for i in (-1, 0, 1) for j in (-1, 0, 1)]
    cbed, target = [], []
    for t in job.thicknesses_nm:
        weights = [1.0 if not o.any() else 0.1 + 0.02 * (k + t / 10) for k, o in enumerate(offsets)]
        cbed.append(sum(w * _disk(centre + o, DISK_RADIUS) for w, o in zip(weights, offsets)))
        target.append(t * sum((3.0 if not o.any() else 1.0 + 0.1 * k) * _spot(centre + o)
                              for k, o in enumerate(offsets)))
    return {"cbed": np.array(cbed), "target": np.array(target),
            "probe": _disk(centre, DISK_RADIUS)}


def fake_jobs():
    splits = library.assign_splits(MATERIALS, seed=0)
    rng = np.random.default_rng(0)
    jobs = []
    for m_index, material in enumerate(MATERIALS):
        semiangle = 1.0 if m_index % 2 == 0 else 2.0
        tilt_mrad = 20.0 + 5.0 * m_index
        azimuth = rng.uniform(0, 2 * math.pi)
        specs = [
            {"orientation": "zone_axis", "zone_axis": (1, 0, 0), "rotation_seed": None,
             "tilt_mrad": (0.0, 0.0), "zone": "on_zone"},
            {"orientation": "zone_axis", "zone_axis": (1, 0, 0), "rotation_seed": None,
             "tilt_mrad": (tilt_mrad * math.cos(azimuth), tilt_mrad * math.sin(azimuth)),
             "zone": "off_zone"},
            {"orientation": "random", "zone_axis": None, "rotation_seed": m_index,
             "tilt_mrad": (0.0, 0.0), "zone": "off_zone"},
        ]
        for spec in specs:
            full = {**spec, "material_id": material, "prototype": PROTOTYPES[material],
                    "semiangle_mrad": semiangle, "energy_kv": 300.0,
                    "thicknesses_nm": THICKNESSES, "split": splits[material], "seed": len(jobs)}
            jobs.append(library.Job(job_id=library.job_id_for(full), index=len(jobs), **full))
    return jobs


@pytest.fixture(scope="module")
def fake_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fake") / "library"
    library.build_library(folder, fake_jobs(), fake_job, pattern_size=N, metadata=METADATA,
                          scheduler="synchronous")
    return library.open_library(folder)


# --------------------------------------------------------------------------- #
# Fig. 1a
# --------------------------------------------------------------------------- #
def test_library_summary_counts_patterns(fake_library):
    summary = plots_library.library_summary(fake_library)
    splits = library.assign_splits(MATERIALS, seed=0)
    n_materials = {s: list(splits.values()).count(s) for s in ("train", "validation", "test")}
    assert summary["complete"] and summary["n_jobs"] == summary["n_jobs_planned"] == 18
    assert summary["n_patterns"] == 54 and summary["n_materials"] == 6
    assert summary["materials_per_split"] == n_materials
    assert summary["patterns_per_split"] == {s: 9 * n for s, n in n_materials.items()}
    assert summary["patterns_per_zone"] == {"on_zone": 18, "off_zone": 36}
    assert summary["patterns_per_split_zone"]["train"] == {
        "on_zone": 3 * n_materials["train"], "off_zone": 6 * n_materials["train"]}
    assert summary["jobs_per_orientation"] == {"on_zone_axis": 6, "mistilted_zone_axis": 6,
                                               "random": 6}
    assert summary["patterns_per_prototype"] == [
        {"prototype": "P_a", "patterns": 27, "materials": 3},
        {"prototype": "P_b", "patterns": 18, "materials": 2},
        {"prototype": "P_c", "patterns": 9, "materials": 1}]
    assert summary["thickness_nm"] == {"values": list(THICKNESSES), "patterns": [18, 18, 18]}
    assert summary["semiangle_mrad"] == {"values": [1.0, 2.0], "patterns": [27, 27]}
    assert summary["energy_kv"] == [300.0]
    tilt = summary["mistilt_mrad"]
    assert tilt["min"] == pytest.approx(20.0) and tilt["max"] == pytest.approx(45.0)
    assert tilt["mean"] == pytest.approx(32.5)
    assert sum(tilt["counts"]) == 6
    assert tilt["edges"][0] == 0 and tilt["edges"][-1] == pytest.approx(3000 * math.pi / 180)
    assert summary["simulation_setting"]["gpts"] == 384 and summary["pattern_size"] == N


def test_library_summary_of_a_partial_and_an_empty_library(tmp_path):
    jobs = fake_jobs()
    library.build_library(tmp_path / "lib", jobs, fake_job, pattern_size=N, metadata=METADATA,
                          scheduler="synchronous", max_jobs=4)
    summary = plots_library.library_summary(library.open_library(tmp_path / "lib"))
    assert not summary["complete"] and summary["n_jobs"] == 4 and summary["n_jobs_planned"] == 18
    assert summary["n_patterns"] == 12
    library.build_library(tmp_path / "empty", jobs, fake_job, pattern_size=N, metadata=METADATA,
                          scheduler="synchronous", max_jobs=0)
    with pytest.raises(ValueError, match="no finished job"):
        plots_library.library_summary(library.open_library(tmp_path / "empty"))


def test_example_panels_follow_one_material(fake_library):
    panels = plots_library.example_panels(fake_library, material_id="m1")
    kinds = [p["kind"] for p in panels]
    assert kinds == ["thickness"] * 3 + ["tilt", "tilt", "semiangle"]
    assert [p["thickness_nm"] for p in panels[:3]] == list(THICKNESSES)
    assert all(p["material_id"] == "m1" for p in panels[:5])
    assert panels[3]["zone"] == "off_zone" and panels[3]["orientation"] == "zone_axis"
    assert panels[4]["orientation"] == "random"
    assert panels[5]["semiangle_mrad"] == 1.0 and panels[5]["zone"] == "on_zone"
    for panel in panels:
        assert panel["cbed"].shape == panel["target"].shape == panel["probe"].shape == (N, N)
    # The fake target is proportional to thickness.
    assert panels[2]["target"].sum() / panels[1]["target"].sum() == pytest.approx(2.0, rel=1e-2)
    descriptors = plots_library.panel_descriptors(panels)
    assert "cbed" not in descriptors[0] and descriptors[0]["job_index"] == 3
    assert plots_library.example_panels(fake_library)[0]["material_id"] == "m0"
    with pytest.raises(ValueError, match="no finished job"):
        plots_library.example_panels(fake_library, material_id="unknown")


def test_material_label():
    assert plots_library.material_label("CrC.AB_oP8_62_c_c.FeB") == "CrC"
    assert plots_library.material_label("named-Si0.82Ge0.18") == "Si0.82Ge0.18"


def test_plot_fig1a_has_one_axis_per_image_and_statistic(fake_library):
    panels = plots_library.example_panels(fake_library, material_id="m1")
    summary = plots_library.library_summary(fake_library)
    figure = plots_library.plot_fig1a(panels, summary, library_hash="abc")
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 3 * len(panels) + 3 + 5  # images, colour bars, statistics
    assert "abc" in figure._suptitle.get_text()
    with pytest.raises(ValueError, match="at least one"):
        plots_library.plot_fig1a([], summary)


# --------------------------------------------------------------------------- #
# Fig. 1b
# --------------------------------------------------------------------------- #
def test_pick_triplet(fake_library):
    triplet = plots_augment.pick_triplet(fake_library)
    first = fake_library.records_where(split="train", zone="on_zone")[0]
    assert triplet["job_index"] == first["index"] and triplet["thickness_nm"] == 10.0
    assert triplet["cbed"].shape == (N, N) and triplet["cbed"].dtype == np.float64
    chosen = plots_augment.pick_triplet(fake_library, split=first["split"],
                                        material_id=first["material_id"], thickness_index=0)
    assert chosen["thickness_nm"] == 5.0
    with pytest.raises(ValueError, match="thickness_index"):
        plots_augment.pick_triplet(fake_library, thickness_index=3)
    with pytest.raises(ValueError, match="no finished job"):
        plots_augment.pick_triplet(fake_library, material_id="unknown")


def test_disk_radius():
    assert plots_augment.disk_radius_px(_disk((N // 2, N // 2), 6.0)) == pytest.approx(6.0, abs=0.2)
    with pytest.raises(ValueError, match="positive max"):
        plots_augment.disk_radius_px(np.zeros((4, 4)))


@pytest.fixture(scope="module")
def triplet():
    arrays = fake_job(fake_jobs()[0])
    return arrays["cbed"][1], arrays["probe"], arrays["target"][1]


def test_gallery_is_seeded_and_changes_only_what_it_should(triplet):
    cbed, probe, target = triplet
    gallery = plots_augment.augmentation_gallery(cbed, probe, target, seed=3, doses=(1e4, 1e7))
    names = [p["name"] for p in gallery["panels"]]
    assert names == ["original", "distortion", "background", "shot_noise_low",
                     "shot_noise_high", "bad_pixels", "combined"]
    panels = {p["name"]: p for p in gallery["panels"]}
    for name in ("background", "shot_noise_low", "shot_noise_high", "bad_pixels"):
        np.testing.assert_array_equal(panels[name]["target"], target)
        np.testing.assert_array_equal(panels[name]["probe"], probe)
    assert not np.allclose(panels["distortion"]["target"], target)
    assert panels["background"]["cbed"].sum() == pytest.approx(cbed.sum())
    params = plots_augment.gallery_parameters(gallery)
    assert params["shot_noise_low"] == {"dose": 1e4} and params["shot_noise_high"] == {"dose": 1e7}
    largest = augment.AugmentSettings().bad_pixel_fraction
    assert params["bad_pixels"]["bad_pixel_fraction"] == largest
    assert set(params["combined"]) >= {"ellipticity", "background_weight", "dose"}
    again = plots_augment.augmentation_gallery(cbed, probe, target, seed=3, doses=(1e4, 1e7))
    assert plots_augment.gallery_parameters(again) == params
    for first, second in zip(gallery["panels"], again["panels"]):
        np.testing.assert_array_equal(first["cbed"], second["cbed"])
    other = plots_augment.augmentation_gallery(cbed, probe, target, seed=4, doses=(1e4, 1e7))
    assert plots_augment.gallery_parameters(other)["distortion"] != params["distortion"]
    with pytest.raises(ValueError, match="expected 0 < low < high"):
        plots_augment.augmentation_gallery(cbed, probe, target, doses=(1e5, 1e4))
    with pytest.raises(ValueError, match="expected"):
        plots_augment.augmentation_gallery(cbed, probe[:10], target)


def test_checks_measure_the_promised_properties(triplet):
    gallery = plots_augment.augmentation_gallery(*triplet, seed=1)
    checks = plots_augment.augmentation_checks(gallery, draws=50, batch=2)
    distortion = checks["distortion"]
    assert distortion["n_peaks"] == distortion["n_disks"] == 9
    assert distortion["max_target_error_px"] < 0.05
    assert distortion["max_target_minus_disk_displacement_px"] < 0.1
    assert distortion["median_unmoved_disk_mismatch_px"] > 0.5  # the check can fail
    assert distortion["mean_target_displacement_px"] > 0.1  # it did move
    assert distortion["probe_centroid_shift_px"] < 1e-6
    assert checks["background"]["total_ratio"] == pytest.approx(1.0, abs=1e-12)
    noise = checks["shot_noise"]
    assert noise["draws"] == 50 and noise["dose"] == augment.AugmentSettings().dose_range[0]
    assert abs(noise["total_ratio"] - 1) < 5 / math.sqrt(noise["dose"] * noise["draws"])
    assert abs(noise["mean_z_rms"] - 1) < 0.2 and abs(noise["variance_ratio"] - 1) < 0.2
    assert checks["seed"] == {"batch": 2, "same_seed_same_batch": True, "other_seed_differs": True}
    with pytest.raises(ValueError, match="draws"):
        plots_augment.augmentation_checks(gallery, draws=1)


def test_plot_fig1b_has_four_rows_per_panel(triplet):
    gallery = plots_augment.augmentation_gallery(*triplet, seed=0)
    figure = plots_augment.plot_fig1b(gallery, triplet={
        "material_id": "named-Si", "zone": "on_zone", "thickness_nm": 10.0,
        "semiangle_mrad": 2.0, "split": "train"})
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4 * 7 + 4  # images and one colour bar per row
    assert "Si (on zone" in figure._suptitle.get_text()
