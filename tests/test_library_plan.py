import dataclasses

import pytest

from fcunet_lib import config, library_plan, materials


@pytest.fixture(scope="module")
def small_table():
    named = materials.named_materials()
    return materials.MaterialsTable(tuple(m for m in named if m.id in ("named-Si", "named-h-BN")),
                                    {})


def test_paper_dry_run_matches_the_papers_library_size():
    estimate = library_plan.estimate_scale("paper")
    assert estimate["systems"] == 1000
    assert estimate["jobs"] == 30_000  # 1000 systems x 10 orientations x 3 semiangles
    assert estimate["patterns"] == 750_000
    assert 100 < estimate["storage_gb"] < 300 and estimate["hours"] > 1


def test_plan_is_deterministic_labelled_and_split_by_material(small_table):
    sim = config.get_scale("smoke").simulation
    jobs = library_plan.plan_library(small_table, sim, seed=3)
    again = library_plan.plan_library(small_table, sim, seed=3)
    assert [j.to_dict() for j in jobs] == [j.to_dict() for j in again]
    assert len(jobs) == 2 * library_plan.jobs_per_system(sim)
    for job in jobs:
        assert job.zone in ("on_zone", "off_zone")
        if job.zone == "on_zone":
            assert job.orientation == "zone_axis" and job.tilt_mrad == (0.0, 0.0)
        elif job.orientation == "zone_axis":
            tilt_deg = (job.tilt_mrad[0] ** 2 + job.tilt_mrad[1] ** 2) ** 0.5 * 0.180 / 3.14159
            assert sim.min_off_zone_deg - 1e-6 <= tilt_deg <= sim.max_mistilt_deg + 1e-6
    splits = {}
    for job in jobs:
        splits.setdefault(job.material_id, set()).add(job.split)
    assert all(len(s) == 1 for s in splits.values())
    other = library_plan.plan_library(small_table, sim, seed=4)
    assert [j.job_id for j in other] != [j.job_id for j in jobs]


def test_semiangles_per_orientation(small_table):
    sim = dataclasses.replace(config.get_scale("smoke").simulation, semiangles_mrad=(1.0, 2.0, 4.0),
                              semiangles_per_orientation=3)
    jobs = library_plan.plan_library(small_table, sim)
    assert {j.semiangle_mrad for j in jobs} == {1.0, 2.0, 4.0}
    with pytest.raises(ValueError, match="semiangles_per_orientation"):
        dataclasses.replace(sim, semiangles_mrad=(2.0,))


def test_empty_table_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        library_plan.plan_library(materials.MaterialsTable((), {}),
                                  config.get_scale("smoke").simulation)


def test_folder_is_keyed_by_plan(small_table):
    sim = config.get_scale("smoke").simulation
    a = library_plan.plan_digest(library_plan.plan_library(small_table, sim, seed=0), {"x": 1})
    b = library_plan.plan_digest(library_plan.plan_library(small_table, sim, seed=1), {"x": 1})
    assert a != b and library_plan.library_folder("smoke", a).name == f"library-{a}"


def test_other_energies_draw_one_energy_per_orientation_and_keep_the_rest_of_the_plan(small_table):
    sim = dataclasses.replace(config.get_scale("smoke").simulation, zone_axes_per_system=2,
                              random_orientations_per_system=3)
    single = library_plan.plan_library(small_table, sim, seed=0)
    multi_sim = dataclasses.replace(sim, other_energies_kv=(80.0, 200.0))
    multi = library_plan.plan_library(small_table, multi_sim, seed=0)
    again = library_plan.plan_library(small_table, multi_sim, seed=0)
    assert [j.to_dict() for j in multi] == [j.to_dict() for j in again]
    assert {j.energy_kv for j in single} == {sim.energy_kv}
    assert {j.energy_kv for j in multi} == {80.0, 200.0, sim.energy_kv}  # 2 x 10 orientations
    # everything but the energy (and so the job id) is the single-energy plan's
    strip = ("energy_kv", "job_id")
    assert ([{k: v for k, v in j.to_dict().items() if k not in strip} for j in multi]
            == [{k: v for k, v in j.to_dict().items() if k not in strip} for j in single])


def test_single_energy_plans_keep_their_settings_record():
    sim = config.get_scale("default").simulation
    record = library_plan.simulation_settings_record(sim)
    assert "other_energies_kv" not in record and record["energy_kv"] == 300.0
    multi = dataclasses.replace(sim, other_energies_kv=(80.0,))
    assert library_plan.simulation_settings_record(multi)["other_energies_kv"] == (80.0,)


@pytest.mark.parametrize("energies", [(300.0,), (0.0,), (-80.0,), (80.0, 80.0)])
def test_other_energies_must_be_distinct_positive_energies(energies):
    with pytest.raises(ValueError, match="distinct beam energies"):
        dataclasses.replace(config.get_scale("smoke").simulation, other_energies_kv=energies)


def test_scale_simulation_replaces_only_the_other_energies():
    scale = config.get_scale("default").simulation
    assert library_plan.scale_simulation("default") is scale
    multi = library_plan.scale_simulation("default", [80, 200])
    assert multi.other_energies_kv == (80.0, 200.0)
    assert dataclasses.replace(multi, other_energies_kv=()) == scale
    with pytest.raises(ValueError, match="distinct beam energies"):
        library_plan.scale_simulation("default", [300])


def test_a_multi_energy_library_gets_its_own_folder(small_table):
    from fcunet_lib import simulate

    single_sim = library_plan.scale_simulation("smoke")
    multi_sim = library_plan.scale_simulation("smoke", (80.0,))
    setting = simulate.DEFAULT_SETTING
    single = library_plan.library_metadata("smoke", small_table, setting)
    assert library_plan.library_metadata("smoke", small_table, setting, single_sim) == single
    multi = library_plan.library_metadata("smoke", small_table, setting, multi_sim)
    assert multi["simulation_settings"]["other_energies_kv"] == (80.0,)
    digest = lambda sim, meta: library_plan.plan_digest(
        library_plan.plan_library(small_table, sim, seed=0), meta)
    assert digest(single_sim, single) != digest(multi_sim, multi)
