import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fcunet_lib import library

SIZE = 8
THICK = (2.0, 4.0, 6.0)


def fake_job(job):
    """Deterministic stand-in for a simulation: values encode the job index."""
    base = np.full((len(job.thicknesses_nm), SIZE, SIZE), job.index, dtype=np.float32)
    ramp = np.arange(len(job.thicknesses_nm), dtype=np.float32)[:, None, None]
    return {"cbed": base + ramp, "target": 2 * base + ramp, "probe": np.eye(SIZE) * job.index}


def make_jobs(n, split_seed=0):
    materials = [f"m{i}" for i in range(n)]
    splits = library.assign_splits(materials, seed=split_seed)
    jobs = []
    for index, material in enumerate(materials):
        spec = {"material": material, "index": index}
        jobs.append(library.Job(
            job_id=library.job_id_for(spec), index=index, material_id=material,
            prototype="A_cF8_227_a", orientation="zone_axis", zone_axis=(1, 1, 0),
            rotation_seed=None, tilt_mrad=(0.0, 0.0), zone="on_zone", semiangle_mrad=2.0,
            energy_kv=300.0, thicknesses_nm=THICK, split=splits[material], seed=index))
    return jobs


def test_splits_are_disjoint_by_material_and_seeded():
    ids = [f"m{i}" for i in range(40)]
    first = library.assign_splits(ids, seed=1)
    assert first == library.assign_splits(ids, seed=1)
    assert first != library.assign_splits(ids, seed=2)
    counts = {s: list(first.values()).count(s) for s in library.SPLITS}
    assert counts == {"train": 28, "validation": 6, "test": 6}
    small = library.assign_splits(["a", "b", "c"])
    assert sorted(small.values()) == ["test", "train", "validation"]


@pytest.mark.parametrize("kwargs", [{"fractions": (0.5, 0.5)}, {"fractions": (0.9, 0.2, 0.1)}])
def test_bad_split_fractions(kwargs):
    with pytest.raises(ValueError, match="fractions"):
        library.assign_splits(["a", "b"], **kwargs)


def test_build_read_and_verify_roundtrip(tmp_path):
    jobs = make_jobs(5)
    result = library.build_library(tmp_path / "lib", jobs, fake_job, pattern_size=SIZE,
                                   scheduler="synchronous", metadata={"setting": "fake"})
    assert result == {"done": 5, "ran": 5, "total": 5}
    lib = library.open_library(tmp_path / "lib")
    assert len(lib) == 5 and lib.metadata == {"setting": "fake"}
    for record in lib.records:
        arrays = lib.job_arrays(record)
        expected = fake_job(library.Job.from_manifest_line(record))
        np.testing.assert_array_equal(arrays["cbed"], expected["cbed"])
        np.testing.assert_array_equal(arrays["probe"], expected["probe"])
    assert library.verify_library(tmp_path / "lib") == 5
    # rerunning does nothing and keeps the hash
    before = library.library_hash(tmp_path / "lib")
    again = library.build_library(tmp_path / "lib", jobs, fake_job, pattern_size=SIZE,
                                  scheduler="synchronous", metadata={"setting": "fake"})
    assert again["ran"] == 0 and library.library_hash(tmp_path / "lib") == before


def test_another_plan_in_the_same_folder_is_refused(tmp_path):
    library.build_library(tmp_path, make_jobs(3), fake_job, pattern_size=SIZE,
                          scheduler="synchronous")
    with pytest.raises(ValueError, match="another plan"):
        library.build_library(tmp_path, make_jobs(4), fake_job, pattern_size=SIZE,
                              scheduler="synchronous")


def test_damaged_chunk_is_reported_by_name(tmp_path):
    library.build_library(tmp_path, make_jobs(3), fake_job, pattern_size=SIZE,
                          scheduler="synchronous")
    chunk = tmp_path / "data.zarr" / "cbed" / "c" / "1" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(library.LibraryCorrupted, match=r"data.zarr/cbed/c/1/0/0"):
        library.verify_library(tmp_path)


def test_bad_plans_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="non-empty"):
        library.build_library(tmp_path, [], fake_job, pattern_size=SIZE)
    jobs = make_jobs(3)
    with pytest.raises(ValueError, match="0..len"):
        library.build_library(tmp_path, jobs[::-1], fake_job, pattern_size=SIZE)
    with pytest.raises(FileNotFoundError, match="plan.json"):
        library.open_library(tmp_path / "nothing")


def test_dry_run_estimate_scales_with_jobs():
    small = library.estimate_cost(make_jobs(2), pattern_size=256)
    large = library.estimate_cost(make_jobs(8), pattern_size=256)
    assert small["patterns"] == 6 and large["patterns"] == 24
    assert large["storage_gb"] == pytest.approx(4 * small["storage_gb"], rel=0.01)
    assert large["hours"] == pytest.approx(4 * small["hours"])


def test_cost_model_charges_random_orientations_and_thickness():
    (zone,) = make_jobs(1)
    rotated = dataclasses.replace(zone, orientation="random", rotation_seed=3)
    thick = dataclasses.replace(zone, thicknesses_nm=(2.0, 100.0))
    cost = lambda job, **kw: library.estimate_cost([job], pattern_size=SIZE, **kw)["hours"]
    assert cost(rotated, random_orientation_factor=3.0) == pytest.approx(3.0 * cost(zone))
    assert cost(thick) > cost(zone)
    assert cost(zone, workers=1) == pytest.approx(2 * cost(zone, workers=2))
    expected = (1.0 + 0.5 * max(THICK)) / 2 / 3600
    assert cost(zone, seconds_fixed=1.0, seconds_per_nm=0.5) == pytest.approx(expected)
    with pytest.raises(ValueError, match="random_orientation_factor"):
        cost(zone, random_orientation_factor=0.0)


def busy_job(job):
    """fake_job after burning a little CPU time, so the timing has something to see."""
    total = 0
    for value in range(200_000 * (1 + job.index % 2)):
        total += value
    return fake_job(job)


def test_finished_jobs_record_their_cost_and_a_dry_run_extrapolates_it(tmp_path):
    jobs = make_jobs(6)
    folder = tmp_path / "lib"
    assert library.measured_cost(folder, jobs) is None  # nothing built yet
    library.build_library(folder, jobs, busy_job, pattern_size=SIZE, scheduler="synchronous",
                          max_jobs=4)
    records = library.read_manifest(folder)
    assert len(records) == 4
    for record in records:
        assert record["cpu_seconds"] > 0 and record["wall_seconds"] > 0
    cost = library.measured_cost(folder, jobs, workers=2)
    per_job = np.mean([record["cpu_seconds"] for record in records])
    assert cost["jobs_finished"] == 4 and cost["jobs_timed"] == 4
    assert cost["cpu_seconds_per_job"] == pytest.approx(per_job)
    assert cost["hours_total"] == pytest.approx(6 * per_job / 2 / 3600)
    assert cost["hours_remaining"] == pytest.approx(2 * per_job / 2 / 3600)
    # the timing is not part of what identifies the data
    untimed = tmp_path / "untimed"
    library.build_library(untimed, jobs, fake_job, pattern_size=SIZE,
                          scheduler="synchronous", max_jobs=4)
    assert library.library_hash(untimed) == library.library_hash(folder)


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import test_library as t
    from fcunet_lib import library

    def slow_job(job):
        time.sleep(0.15)
        return t.fake_job(job)

    library.build_library({folder!r}, t.make_jobs(20), slow_job, pattern_size=t.SIZE,
                          scheduler="synchronous")
""")


@pytest.mark.slow
def test_sigkill_then_rerun_completes_without_loss_or_duplicates(tmp_path):
    folder = tmp_path / "lib"
    script = tmp_path / "build.py"
    script.write_text(KILL_SCRIPT.format(tests=os.path.dirname(__file__), folder=str(folder)))
    process = subprocess.Popen([sys.executable, str(script)])
    deadline = time.time() + 60
    while len(library.read_manifest(folder)) < 5 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(library.read_manifest(folder))
    assert 5 <= partial < 20
    subprocess.run([sys.executable, str(script)], check=True)
    records = library.read_manifest(folder)
    assert sorted(r["index"] for r in records) == list(range(20))
    assert library.verify_library(folder) == 20


@pytest.mark.slow
def test_local_dask_cluster_path(tmp_path):
    import cloudpickle
    import test_library as this_module

    cloudpickle.register_pickle_by_value(this_module)
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        result = library.build_library(tmp_path, make_jobs(6), fake_job, pattern_size=SIZE,
                                       scheduler=cluster.scheduler_address)
    assert result["ran"] == 6
    assert library.verify_library(tmp_path) == 6
