import json

import numpy as np
import pytest

from fcunet_lib import library, train

N = 64
THICK = (4.0, 8.0)


def synthetic_job(job):
    """Disks at a lattice rotated per job; target peaks at the disk centres."""
    rng = np.random.default_rng(job.seed)
    x, y = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    angle = rng.uniform(0, np.pi)
    g = 12 * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    cbed, target = np.zeros((len(THICK), N, N)), np.zeros((len(THICK), N, N))
    for i in range(-2, 3):
        for j in range(-2, 3):
            c = np.array([N // 2, N // 2]) + i * g[0] + j * g[1]
            weight = np.exp(-0.1 * (i * i + j * j))
            disk = np.hypot(x - c[0], y - c[1]) < 3
            peak = np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2) / 2)
            for k, t in enumerate(THICK):
                cbed[k] += disk * weight
                target[k] += peak * weight * t
    probe = (np.hypot(x - N // 2, y - N // 2) < 3).astype(float)
    return {"cbed": cbed, "target": target, "probe": probe}


@pytest.fixture(scope="module")
def tiny_library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lib")
    materials = [f"m{i}" for i in range(8)]
    splits = library.assign_splits(materials, fractions=(0.5, 0.25, 0.25), seed=0)
    jobs = [library.Job(job_id=f"j{i}", index=i, material_id=m, prototype="p",
                        orientation="zone_axis", zone_axis=(0, 0, 1), rotation_seed=None,
                        tilt_mrad=(0.0, 0.0), zone="on_zone" if i % 2 else "off_zone",
                        semiangle_mrad=2.0, energy_kv=300.0, thicknesses_nm=THICK,
                        split=splits[m], seed=i)
            for i, m in enumerate(materials)]
    library.build_library(folder, jobs, synthetic_job, pattern_size=N, scheduler="synchronous")
    return folder


def test_noam_schedule_matches_the_authors_peak():
    steps = np.arange(1, 400)
    lr = train.noam_learning_rate(steps)
    assert steps[lr.argmax()] == 50
    assert lr.max() == pytest.approx(3.95e-3, rel=0.01)
    schedule = train.NoamSchedule(10, 50, 128)
    assert float(schedule(49)) == pytest.approx(lr[49], rel=1e-5)


def test_load_split_pairs_patterns_with_their_probe(tiny_library):
    data = train.load_split(tiny_library, "train")
    assert data["cbed"].shape == data["probe"].shape == data["target"].shape
    assert len(data["cbed"]) == 2 * len(data["jobs"]) == len(data["zone"])
    assert set(data["material_id"]).isdisjoint(train.load_split(tiny_library, "test")["material_id"])
    with pytest.raises(ValueError, match="expected 'train'"):
        train.load_split(tiny_library, "dev")


def test_epoch_is_seeded_and_varies_between_epochs(tiny_library):
    data = train.load_split(tiny_library, "train")
    settings = train.TrainOptions().augment
    a = train.make_epoch(data, epoch=1, seed=3, settings=settings)
    b = train.make_epoch(data, epoch=1, seed=3, settings=settings)
    c = train.make_epoch(data, epoch=2, seed=3, settings=settings)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], c[0][0])
    assert a[0][0].shape == (len(data["cbed"]), N, N, 1)


@pytest.mark.parametrize("kwargs", [{"loss": "l3"}, {"epochs": 0}, {"strategy": "tpu"},
                                    {"mixed_precision": "fp8"}, {"target_norm": "max"},
                                    {"jit_compile": "yes"}])
def test_bad_options(kwargs):
    with pytest.raises(ValueError, match="expected"):
        train.TrainOptions(**kwargs)


@pytest.mark.slow
def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_library, tmp_path):
    build = _tiny_builder("fcunet")
    data = train.load_split(tiny_library, "train")
    val = train.load_split(tiny_library, "validation")
    options = train.TrainOptions(epochs=3, batch_size=4, seed=5)
    full = train.train(build, data, val, tmp_path / "full", options=options)
    train.train(build, data, val, tmp_path / "split", options=options, stop_after_epoch=0)
    assert json.loads((tmp_path / "split" / "state.json").read_text())["epochs_done"] == 1
    resumed = train.train(build, data, val, tmp_path / "split", options=options)
    assert resumed["epochs_done"] == full["epochs_done"] == 3
    np.testing.assert_allclose(resumed["history"]["loss"], full["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(resumed["history"]["val_loss"], full["history"]["val_loss"],
                               rtol=1e-4)
    import keras

    assert sorted(p.name for p in (tmp_path / "split").glob("checkpoint-*")) == [
        "checkpoint-0003.keras"]
    a = keras.saving.load_model(tmp_path / "full" / "checkpoint-0003.keras").get_weights()
    b = keras.saving.load_model(tmp_path / "split" / "checkpoint-0003.keras").get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)
    other = train.TrainOptions(epochs=3, batch_size=4, seed=6)
    with pytest.raises(ValueError, match="other options"):
        train.train(build, data, val, tmp_path / "full", options=other)


def _tiny_builder(name):
    from fcunet_lib import models

    return lambda: models.build_model(name, input_size=N, base_filters=2, levels=2, convs_per_block=1,
                                      dropout=0.1)


def test_a_finished_run_extends_like_a_longer_run(tiny_library, tmp_path):
    build = _tiny_builder("unet")
    data, val = train.load_split(tiny_library, "train"), train.load_split(tiny_library, "validation")
    longer = train.train(build, data, val, tmp_path / "longer",
                         options=train.TrainOptions(epochs=2, batch_size=4, seed=3))
    train.train(build, data, val, tmp_path / "short", options=train.TrainOptions(epochs=1, batch_size=4, seed=3))
    extended = train.train(build, data, val, tmp_path / "short",
                           options=train.TrainOptions(epochs=2, batch_size=4, seed=3))
    assert extended["epochs_done"] == 2 and extended["options"]["epochs"] == 2
    np.testing.assert_allclose(extended["history"]["loss"], longer["history"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(extended["history"]["val_loss"], longer["history"]["val_loss"], rtol=1e-4)
    with pytest.raises(ValueError, match="run of 2 epochs, more than the 1 asked"):
        train.train(build, data, val, tmp_path / "short", options=train.TrainOptions(epochs=1, batch_size=4, seed=3))


def test_mixed_bfloat16_run_is_finite_reloads_and_restores_the_policy(tiny_library, tmp_path):
    import keras

    from fcunet_lib import models

    architecture = {**models.model_config("smoke"), "input_size": N}
    data = train.load_split(tiny_library, "train")
    val = train.load_split(tiny_library, "validation")
    options = train.TrainOptions(epochs=1, batch_size=4, seed=2, augment=None,
                                 mixed_precision="mixed_bfloat16")
    before = keras.mixed_precision.global_policy().name
    state = train.train(lambda: models.build_model("fcunet", **architecture), data, val,
                        tmp_path / "run", options=options)
    assert keras.mixed_precision.global_policy().name == before
    assert keras.layers.Dense(1).dtype_policy.name == before
    assert np.isfinite(state["history"]["loss"][0]) and np.isfinite(state["history"]["val_loss"][0])
    model = keras.saving.load_model(tmp_path / "run" / state["checkpoint"])
    policies = {type(layer).__name__: layer.dtype_policy.name for layer in model.layers}
    assert policies["ComplexConv2D"] == "mixed_bfloat16", policies
    inputs, _ = train.make_epoch(val, epoch=0, seed=2, settings=None, shuffle=False)
    prediction = model.predict(inputs, verbose=0)
    assert prediction.dtype == np.float32 and np.isfinite(prediction).all()

def test_an_xla_run_compiles_its_steps_keeps_epoch_times_and_follows_the_plain_run(
        tiny_library, tmp_path):
    data, val = train.load_split(tiny_library, "train"), train.load_split(tiny_library, "validation")
    build = _tiny_builder("unet")
    plain = train.train(build, data, val, tmp_path / "plain",
                        options=train.TrainOptions(epochs=2, batch_size=4, seed=4, augment=None))
    xla = train.train(build, data, val, tmp_path / "xla",
                      options=train.TrainOptions(epochs=2, batch_size=4, seed=4, augment=None,
                                                 jit_compile=True))
    assert xla["options"]["jit_compile"] is True and plain["options"]["jit_compile"] is False
    assert len(xla["epoch_seconds"]) == 2 and sum(xla["epoch_seconds"]) == pytest.approx(xla["seconds"])
    # the same weights, batches and schedule; only XLA's summation order differs
    np.testing.assert_allclose(xla["history"]["loss"], plain["history"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(xla["history"]["val_loss"], plain["history"]["val_loss"], rtol=1e-3)
    import keras

    model = keras.saving.load_model(tmp_path / "xla" / xla["checkpoint"])
    assert model.jit_compile is True


def test_a_run_from_before_jit_compile_resumes_as_a_run_without_it(tiny_library, tmp_path):
    data, val = train.load_split(tiny_library, "train"), train.load_split(tiny_library, "validation")
    build = _tiny_builder("unet")
    train.train(build, data, val, tmp_path / "run",
                options=train.TrainOptions(epochs=1, batch_size=4, seed=1, augment=None))
    state_path = tmp_path / "run" / "state.json"
    state = json.loads(state_path.read_text())
    del state["options"]["jit_compile"], state["epoch_seconds"]  # as an older run wrote it
    state_path.write_text(json.dumps(state))
    extended = train.train(build, data, val, tmp_path / "run",
                           options=train.TrainOptions(epochs=2, batch_size=4, seed=1, augment=None))
    assert extended["epochs_done"] == 2 and len(extended["epoch_seconds"]) == 1
    with pytest.raises(ValueError, match="other options"):
        train.train(build, data, val, tmp_path / "run",
                    options=train.TrainOptions(epochs=3, batch_size=4, seed=1, augment=None,
                                               jit_compile=True))


def test_legacy_defaults_fill_only_missing_options():
    assert train.with_legacy_defaults({"epochs": 4}) == {"epochs": 4, "target_norm": "global",
                                                        "jit_compile": False}
    assert train.with_legacy_defaults({"jit_compile": True})["jit_compile"] is True


def test_spot_weighted_mse_matches_its_numpy_form():
    rng = np.random.default_rng(3)
    target = np.zeros((2, 8, 8, 1), np.float32)
    target[0, 2, 3, 0], target[1, 5, 5, 0], target[1, 1, 1, 0] = 4.0, 2.0, 1.0
    prediction = rng.normal(0, 0.5, target.shape).astype(np.float32)
    weights = train.spot_weights(target, 20.0)
    assert weights[0, 2, 3, 0] == pytest.approx(21.0) and weights[1, 1, 1, 0] == pytest.approx(11.0)
    assert weights[0, 0, 0, 0] == 1.0
    expected = (weights * (prediction - target) ** 2).mean(axis=(1, 2, 3)).mean()
    loss = train.spot_weighted_mse(20.0)
    assert float(loss(target, prediction)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(target, target)) == 0.0
    # the same error costs more on a spot than on the empty background
    on_spot, off_spot = target.copy(), target.copy()
    on_spot[0, 2, 3, 0] += 1.0
    off_spot[0, 0, 0, 0] += 1.0
    assert float(loss(target, on_spot)) == pytest.approx(21 * float(loss(target, off_spot)))


def test_spot_weight_zero_is_plain_mse():
    target = np.abs(np.random.default_rng(4).normal(size=(3, 6, 6, 1))).astype(np.float32)
    prediction = np.zeros_like(target)
    plain = float(np.mean((target - prediction) ** 2))
    assert float(train.spot_weighted_mse(0.0)(target, prediction)) == pytest.approx(plain, rel=1e-6)


@pytest.mark.slow
def test_spot_mse_run_resumes_in_a_new_process(tiny_library, tmp_path):
    # The compiled loss is a custom Keras class: a fresh process must find it
    # registered when it loads the checkpoint to resume.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        from fcunet_lib import models, train
        data = train.load_split({str(tiny_library)!r}, "train")
        val = train.load_split({str(tiny_library)!r}, "validation")
        options = train.TrainOptions(epochs=2, batch_size=4, seed=2, loss="spot_mse", spot_weight=50.0)
        build = lambda: models.build_model("fcunet", input_size={N}, base_filters=2, levels=2,
                                           convs_per_block=1, dropout=0.0)
        state = train.train(build, data, val, {str(tmp_path / "run")!r}, options=options,
                            stop_after_epoch=int(__import__("sys").argv[1]))
        print("EPOCHS", state["epochs_done"])
    """)
    for stop, done in ((0, 1), (1, 2)):
        out = subprocess.run([sys.executable, "-c", script, str(stop)], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"EPOCHS {done}" in out.stdout


def test_pattern_max_targets_are_scale_free_and_peak_at_one(tiny_library):
    data = train.load_split(tiny_library, "train")
    _, target = train.make_epoch(data, epoch=0, seed=1, settings=None, shuffle=False,
                                 target_norm="pattern_max")
    assert target.max(axis=(1, 2, 3)) == pytest.approx(1.0)
    # the two thicknesses of one job differ only by a factor: normalised, they are the same image
    assert np.abs(target[0] - target[1]).max() < 1e-3
    raw = data["target"][0].astype(np.float32)
    doubled = train.normalise_targets(2.0 * raw, "pattern_max")
    assert np.allclose(doubled, raw / raw.max(), atol=1e-6)
    # global: one factor for all, so thickness stays in the target
    _, glob = train.make_epoch(data, epoch=0, seed=1, settings=None, shuffle=False,
                               target_scale=0.5)
    assert np.allclose(glob[..., 0], 0.5 * data["target"].astype(np.float32))
    assert train.normalise_targets(np.zeros((2, 4, 4)), "pattern_max").max() == 0.0
    with pytest.raises(ValueError, match="expected one of global, pattern_max"):
        train.normalise_targets(raw, "per_image")


def test_pattern_max_is_applied_before_augmentation(tiny_library):
    """A sub-pixel shift lowers the sampled peak; the target keeps the clean image's unit."""
    data = train.load_split(tiny_library, "train")
    settings = train.TrainOptions().augment
    _, target = train.make_epoch(data, epoch=0, seed=4, settings=settings, shuffle=False,
                                 target_norm="pattern_max")
    peaks = target.max(axis=(1, 2, 3))
    assert np.all(peaks <= 1.0 + 1e-5) and np.all(peaks > 0.5)


@pytest.mark.parametrize("speed, flags", [
    ({"jit_compile": True}, " --jit-compile"),
    ({"mixed_precision": "mixed_bfloat16"}, " --mixed-precision mixed_bfloat16"),
])
def test_the_card_of_a_faster_run_names_its_options_keeps_epoch_times_and_scores_it(
        tiny_library, tmp_path, speed, flags):
    from fcunet_lib import training_run

    data, val = train.load_split(tiny_library, "train"), train.load_split(tiny_library, "validation")
    network = {"input_size": N, "base_filters": 2, "levels": 2, "convs_per_block": 1,
               "dropout": 0.1, "output_activation": "linear"}
    state = train.train(_tiny_builder("unet"), data, val, tmp_path / "run",
                        options=train.TrainOptions(epochs=1, batch_size=4, seed=1, augment=None,
                                                   **speed))
    _, card = training_run.score_run(tmp_path / "run", state, name="unet", scale="smoke", seed=1,
                                     library_folder=tiny_library, train_data=data, validation=val,
                                     network=network)
    assert card["command"].endswith(flags)
    assert all(card["options"][key] == value for key, value in speed.items())
    assert card["epoch_seconds"] == state["epoch_seconds"] and len(card["epoch_seconds"]) == 1
    assert np.isfinite(card["validation"]["ssim"]["all"]) and card["validation"]["mae"] > 0
