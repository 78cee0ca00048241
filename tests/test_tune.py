"""The Ray Tune search: the authors' ranges (no Ray needed) and a two-trial smoke search."""

import json
import math
import sys
import time

import numpy as np
import pytest

from fcunet_lib import library, train
from fcunet_lib import tune as fl_tune

N = 64  # the smoke scale's pattern size
THICK = (4.0, 8.0)


def test_search_space_matches_the_authors_ranges():
    space = fl_tune.search_space()
    assert set(space) == {"base_filters", "convs_per_block", "dropout", "alpha", "warmup"}
    filters = space["base_filters"]
    assert filters.kind == "choice" and (min(filters.choices), max(filters.choices)) == (4, 64)
    assert all(c & (c - 1) == 0 for c in filters.choices)  # powers of two
    assert (space["convs_per_block"].kind, space["convs_per_block"].low,
            space["convs_per_block"].high) == ("randint", 2, 8)
    assert (space["dropout"].kind, space["dropout"].low, space["dropout"].high) == (
        "uniform", 0.1, 0.5)
    assert (space["alpha"].kind, space["alpha"].low, space["alpha"].high) == (
        "loguniform", 1.0, 1e4)
    assert (space["warmup"].kind, space["warmup"].low, space["warmup"].high) == ("randint", 1, 50)
    assert {d.authors for d in space.values()} == {"filter_size", "depth", "dropout", "alpha",
                                                   "warmup"}
    for unsearched in ("activation", "optimizer"):
        assert unsearched in fl_tune.search_space.__doc__


def test_every_searched_value_builds_options_and_a_distinct_run_folder():
    plan = {"model": "fcunet", "architecture": {"input_size": N, "base_filters": 4, "levels": 3,
                                                "convs_per_block": 1, "dropout": 0.1},
            "epochs": 2, "seed": 0, "batch_size": 8, "library": "lib", "runs": "/tmp/runs"}
    low = {"base_filters": 4, "convs_per_block": 2, "dropout": 0.1, "alpha": 1.0, "warmup": 1}
    high = {"base_filters": 64, "convs_per_block": 8, "dropout": 0.5, "alpha": 1e4, "warmup": 50}
    space = fl_tune.search_space()
    folders = set()
    for values in (low, high):
        assert all(space[name].contains(value) for name, value in values.items())
        architecture, options, folder = fl_tune._trial_setup(values, plan)
        assert architecture["convs_per_block"] == values["convs_per_block"]
        assert (options.alpha, options.warmup) == (values["alpha"], values["warmup"])
        assert fl_tune._trial_setup(values, plan)[2] == folder
        folders.add(folder)
    assert len(folders) == 2
    assert not space["convs_per_block"].contains(1) and not space["warmup"].contains(2.5)


@pytest.mark.parametrize("kwargs", [{"num_samples": 0}, {"epochs_per_trial": 0},
                                    {"max_t": 2, "grace_period": 3}, {"max_jobs": 0},
                                    {"model_name": "resnet"}, {"scale": "huge"}])
def test_bad_arguments(kwargs):
    arguments = {"scale": "smoke", "num_samples": 2, "epochs_per_trial": 1, **kwargs}
    with pytest.raises(ValueError, match="expected"):
        fl_tune.run_search(**arguments)


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"pip install '\.\[tune\]'"):
        fl_tune.run_search("smoke", num_samples=2, epochs_per_trial=1)


def test_tune_domains_draw_inside_the_ranges():
    tune = pytest.importorskip("ray.tune")
    rng = np.random.default_rng(0)
    for name, domain in fl_tune._tune_domains(tune, fl_tune.search_space()).items():
        values = domain.sample(size=200, random_state=rng)
        assert all(fl_tune.search_space()[name].contains(v) for v in values), name


def test_random_search_stands_in_for_hyperopt(monkeypatch):
    pytest.importorskip("ray.tune")
    monkeypatch.setitem(sys.modules, "hyperopt", None)
    searcher, name = fl_tune._searcher(0)
    assert name == "random" and type(searcher).__name__ == "BasicVariantGenerator"


def _synthetic_job(job):
    """A ring of disks rotated per job; target peaks at the disk centres."""
    rng = np.random.default_rng(job.seed)
    x, y = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    angles = rng.uniform(0, np.pi) + np.arange(6) * np.pi / 3
    cbed, target = np.zeros((len(THICK), N, N)), np.zeros((len(THICK), N, N))
    for a in angles:
        cx, cy = N // 2 + 14 * np.cos(a), N // 2 + 14 * np.sin(a)
        disk = np.hypot(x - cx, y - cy) < 3
        peak = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 2)
        for k, t in enumerate(THICK):
            cbed[k] += disk
            target[k] += peak * t
    probe = (np.hypot(x - N // 2, y - N // 2) < 3).astype(float)
    return {"cbed": cbed, "target": target, "probe": probe}


@pytest.fixture(scope="module")
def smoke_size_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune_lib")
    materials = [f"m{i}" for i in range(4)]
    splits = library.assign_splits(materials, fractions=(0.5, 0.25, 0.25), seed=0)
    jobs = [library.Job(job_id=f"j{i}", index=i, material_id=m, prototype="p",
                        orientation="zone_axis", zone_axis=(0, 0, 1), rotation_seed=None,
                        tilt_mrad=(0.0, 0.0), zone="on_zone", semiangle_mrad=2.0,
                        energy_kv=300.0, thicknesses_nm=THICK, split=splits[m], seed=i)
            for i, m in enumerate(materials)]
    library.build_library(folder, jobs, _synthetic_job, pattern_size=N, scheduler="synchronous")
    return folder


class _Killed(Exception):
    pass


def test_a_trial_killed_after_an_epoch_resumes_where_it_stopped(smoke_size_library, tmp_path,
                                                                   monkeypatch):
    from types import SimpleNamespace

    from fcunet_lib import models

    reports = []

    def report(metrics):
        reports.append(metrics)
        if len(reports) == 1:
            raise _Killed  # as if the worker died right after its first epoch

    fake_tune = SimpleNamespace(report=report)
    monkeypatch.setitem(sys.modules, "ray", SimpleNamespace(tune=fake_tune))
    monkeypatch.setitem(sys.modules, "ray.tune", fake_tune)
    plan = {"model": "fcunet", "architecture": {**models.model_config("smoke"), "input_size": N},
            "epochs": 2, "seed": 0, "batch_size": 8, "library": "lib", "runs": str(tmp_path)}
    values = {"base_filters": 4, "convs_per_block": 2, "dropout": 0.1, "alpha": 10.0,
              "warmup": 5}
    data = {split: train.load_split(smoke_size_library, split)
            for split in ("train", "validation")}
    with pytest.raises(_Killed):
        fl_tune._trial(values, train_data=data["train"], validation_data=data["validation"],
                       plan=plan)
    folder = fl_tune._trial_setup(values, plan)[2]
    assert json.loads((folder / "state.json").read_text())["epochs_done"] == 1
    fl_tune._trial(values, train_data=data["train"], validation_data=data["validation"],
                   plan=plan)
    history = json.loads((folder / "state.json").read_text())["history"]
    assert [r["epoch"] for r in reports] == [1, 1, 2]
    assert reports[0][fl_tune.METRIC] == reports[1][fl_tune.METRIC]
    assert [r[fl_tune.METRIC] for r in reports[1:]] == history["val_mean_absolute_error"]
    assert len(history["loss"]) == 2  # the first epoch was not trained again


@pytest.mark.slow
def test_two_trial_smoke_search(smoke_size_library, tmp_path):
    pytest.importorskip("ray.tune")
    start = time.perf_counter()
    found = fl_tune.run_search("smoke", "fcunet", num_samples=2, epochs_per_trial=1, seed=0,
                               storage_path=tmp_path, library_folder=smoke_size_library,
                               max_concurrent_trials=1)
    print(f"two-trial search: {time.perf_counter() - start:.1f} s")
    assert found.searcher == ("hyperopt" if _importable("hyperopt") else "random")
    assert len(found.trials) == 2
    space = fl_tune.search_space()
    for trial in found.trials:
        assert trial["error"] is None and trial["epochs"] == 1
        assert math.isfinite(trial["val_mae"])
        assert all(space[name].contains(value) for name, value in trial["config"].items())
        state = json.loads((trial["run_folder"] / "state.json").read_text())
        assert state["epochs_done"] == 1
        assert state["history"]["val_mean_absolute_error"] == [trial["val_mae"]]
    assert found.best_val_mae == min(t["val_mae"] for t in found.trials)
    assert found.best_run_folder.parent == tmp_path.resolve() / "runs"


def _importable(name):
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_cli_reports_bad_arguments_and_the_missing_extra(capsys, monkeypatch):
    from fcunet_lib import cli

    assert cli.main(["tune", "--scale", "smoke", "--samples", "0", "--epochs", "1"]) == 2
    assert "num_samples=0" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)
    assert cli.main(["tune", "--scale", "smoke", "--samples", "2", "--epochs", "1"]) == 2
    assert "pip install '.[tune]'" in capsys.readouterr().err
