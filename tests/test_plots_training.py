"""Fig. 7 and Table I: the summaries and plots of fcunet_lib.plots.training (tiny, fast)."""

from __future__ import annotations

import io
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from fcunet_lib import library, models, training_run
from fcunet_lib.plots import training

TINY = {"input_size": 64, "base_filters": 2, "levels": 2, "convs_per_block": 1, "dropout": 0.1}


@pytest.fixture(scope="module")
def archs():
    return [training.architecture_summary(models.build_model(name, **TINY))
            for name in models.MODEL_NAMES]


def _card(name, epochs=3, ssim=(0.9, 0.8)):
    loss = [1.0 / (e + 1) for e in range(epochs)]
    return {
        "name": name, "sha256": "0" * 64, "library_hash": "abcd", "parameters": 1234,
        "library_folder": "data/smoke/library-0123456789", "scale": "smoke",
        "command": f"fcunet train --scale smoke --model {name} --seed 0",
        "training_seconds": 30.0, "machine": {"processor": "x86_64", "cores": 2},
        "curves": {"loss": loss, "val_loss": [2 * v for v in loss],
                   "mean_absolute_error": [v / 2 for v in loss],
                   "val_mean_absolute_error": loss},
        "validation": {"ssim": {"on_zone": ssim[0], "off_zone": ssim[1]}},
        "train_patterns": 90, "validation_patterns": 18,
    }


def _png_bytes(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


# --------------------------------------------------------------------------- #
# Fig. 7
# --------------------------------------------------------------------------- #
def test_architecture_summary_reads_the_built_networks(archs):
    unet, spectral, fcunet = archs
    for arch in archs:
        assert [level["size"] for level in arch["levels"]] == [64, 32, 16]
        assert arch["levels"][-1]["bottleneck"] and arch["convs_per_block"] == 1
        assert arch["input_size"] == 64 and arch["gflop"] > 0
    assert [level["width"] for level in fcunet["levels"]] == [2, 4, 8]  # complex channels
    assert [level["width"] for level in unet["levels"]] == [3, 6, 11]  # round(√2·w)
    assert (unet["domain"], unet["pooling"]) == ("real", "max")
    assert (spectral["domain"], spectral["pooling"]) == ("real", "spectral")
    assert (fcunet["domain"], fcunet["pooling"]) == ("complex", "max")
    assert fcunet["fourier_input"] and fcunet["inverse_fft"]
    assert not (unet["fourier_input"] or unet["inverse_fft"])
    assert fcunet["gflop"] > unet["gflop"]


def test_architecture_summary_sees_the_correlation_skip(archs):
    assert not any(arch["correlation_skip"] for arch in archs)  # TINY: the authors' FCU-Net
    skip = training.architecture_summary(models.build_model("fcunet", **TINY, correlation_skip=True))
    assert skip["correlation_skip"]
    cards = {name: _card(name) for name in models.MODEL_NAMES}
    figure = training.plot_fig7([*archs[:2], skip], cards, provenance="test", scale="smoke")
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert sum("correlation skip" in t for t in texts) == 1  # drawn for the skip network only


def test_architecture_summary_counts_match_the_model():
    model = models.build_model("fcunet", **TINY)
    arch = training.architecture_summary(model)
    assert arch["parameters"] == model.count_params()
    assert arch["gflop"] == pytest.approx(models.forward_flops(model) / 1e9)


def test_architecture_summary_rejects_other_models():
    import keras

    inputs = keras.Input((8, 8, 1))
    other = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    with pytest.raises(ValueError, match="fcunet_lib.models"):
        training.architecture_summary(other)


def test_training_summary_of_a_card():
    facts = training.training_summary(_card("fcunet", epochs=4))
    assert facts["epochs"] == 4
    assert facts["final"]["loss"] == pytest.approx(0.25)
    assert facts["final"]["val_loss"] == pytest.approx(0.5)
    assert facts["seconds_per_epoch"] == pytest.approx(7.5)
    assert facts["validation_ssim"] == {"on_zone": 0.9, "off_zone": 0.8}
    assert facts["machine"] == "x86_64, 2 cores"


def test_training_summary_tolerates_a_card_without_curves():
    facts = training.training_summary({"training_seconds": 1.0})
    assert facts["epochs"] == 0 and facts["seconds_per_epoch"] is None
    assert all(value is None for value in facts["final"].values())


def test_provenance_says_whether_models_are_shipped():
    assert "shipped" in training.models_provenance("default")
    smoke = training.models_provenance("smoke", trained_now=["unet"])
    assert "not the shipped" in smoke and "U-Net" in smoke


def test_common_library_hash():
    cards = {name: _card(name) for name in models.MODEL_NAMES}
    assert training.common_library_hash(cards) == "abcd"
    cards["unet"]["library_hash"] = "other"
    with pytest.raises(ValueError, match="different libraries"):
        training.common_library_hash(cards)
    # the same splits rebuilt elsewhere: another hash, recorded per model
    for card in cards.values():
        card["split_digest"] = "19c5d4e2997a71b5"
    assert training.common_library_hash(cards) == (
        "unet=other, spectral_unet=abcd, fcunet=abcd")
    cards["fcunet"]["split_digest"] = "another"
    with pytest.raises(ValueError, match="different libraries"):
        training.common_library_hash(cards)


@pytest.mark.parametrize("epochs", [1, 12])
def test_plot_fig7_draws(archs, epochs):
    cards = {name: _card(name, epochs=epochs) for name in models.MODEL_NAMES}
    figure = training.plot_fig7(archs, cards, provenance="test models", scale="smoke")
    titles = [ax.get_title() for ax in figure.axes]
    assert any(t.startswith("(c) FCU-Net") for t in titles)
    assert "test models" in figure.get_suptitle()
    assert _png_bytes(figure).startswith(b"\x89PNG")


def test_plot_fig7_needs_architectures():
    with pytest.raises(ValueError, match="architecture"):
        training.plot_fig7([], {}, provenance="", scale="smoke")


# --------------------------------------------------------------------------- #
# Table I
# --------------------------------------------------------------------------- #
def test_require_models_names_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="04_train"):
        training_run.require_models(["fcunet"], tmp_path, scale="smoke")


def _plan_folder(parent, name, splits, lattice=5.431):
    """A library folder holding only a plan: one job per (material, split)."""
    folder = parent / name
    folder.mkdir()
    jobs = [{"material_id": m, "split": split, "lattice_A": lattice} for m, split in splits.items()]
    (folder / "plan.json").write_text(json.dumps({"metadata": {}, "jobs": jobs}))
    return folder


def test_check_same_plan_compares_splits_not_float_bits(tmp_path):
    splits = {"a": "train", "b": "train", "c": "validation", "d": "test"}
    trained_on = _plan_folder(tmp_path, "library-0123456789", splits)
    # the same plan rebuilt elsewhere: other last bits, other folder name, same splits
    rebuilt = _plan_folder(tmp_path, "library-5555555555", splits, lattice=5.431000000000001)
    swapped = _plan_folder(tmp_path, "library-9999999999", {**splits, "b": "test", "d": "train"})
    digest = library.split_digest(trained_on)
    assert library.split_digest(rebuilt) == digest != library.split_digest(swapped)
    cards = {name: {**_card(name), "split_digest": digest} for name in models.MODEL_NAMES}
    training.check_same_plan(cards, trained_on)
    training.check_same_plan(cards, rebuilt)
    with pytest.raises(ValueError, match="retrain=True"):
        training.check_same_plan(cards, swapped)
    # cards from before the split digest: compared by folder name
    legacy = {name: _card(name) for name in models.MODEL_NAMES}
    training.check_same_plan(legacy, trained_on)
    with pytest.raises(ValueError, match="fcunet"):
        training.check_same_plan(legacy, rebuilt)


def test_select_test_patterns_is_balanced_and_deterministic():
    zones = np.array(["on_zone"] * 6 + ["off_zone"] * 12)
    chosen = training.select_test_patterns(zones, limit=8, seed=0)
    assert len(chosen) == 8 and np.all(np.diff(chosen) > 0)
    assert np.sum(zones[chosen] == "on_zone") == 4
    assert np.array_equal(chosen, training.select_test_patterns(zones, limit=8, seed=0))
    assert not np.array_equal(chosen, training.select_test_patterns(zones, limit=8, seed=1))


def test_select_test_patterns_fills_from_the_other_zone():
    zones = np.array(["on_zone"] * 2 + ["off_zone"] * 20)
    chosen = training.select_test_patterns(zones, limit=8)
    assert len(chosen) == 8 and np.sum(zones[chosen] == "on_zone") == 2
    assert np.array_equal(training.select_test_patterns(zones[:5], limit=8), np.arange(5))
    with pytest.raises(ValueError):
        training.select_test_patterns(zones, limit=0)


def test_pattern_subset_repeats_job_fields_per_thickness():
    jobs = [{"semiangle_mrad": 1.0, "thicknesses_nm": [10, 20]},
            {"semiangle_mrad": 4.0, "thicknesses_nm": [10, 20]}]
    split = {"cbed": np.zeros((4, 8, 8), np.float16), "probe": np.ones((4, 8, 8), np.float16),
             "target": np.full((4, 8, 8), 2, np.float16),
             "zone": np.array(["on_zone", "on_zone", "off_zone", "off_zone"]),
             "thickness_nm": np.array([10, 20, 10, 20]), "material_id": np.array(list("aabb")),
             "jobs": jobs}
    subset = training.pattern_subset(split, [1, 2])
    assert subset["target"].dtype == np.float32 and subset["target"].shape == (2, 8, 8)
    assert list(subset["semiangle_mrad"]) == [1.0, 4.0]
    assert list(subset["zone"]) == ["on_zone", "off_zone"]
    assert list(subset["thickness_nm"]) == [20, 10]


def test_pattern_ssim_and_breakdown():
    rng = np.random.default_rng(0)
    targets = rng.random((4, 16, 16)).astype(np.float32)
    scores = training.pattern_ssim(targets, targets)
    assert np.allclose(scores, 1.0)
    zones = np.array(["on_zone", "off_zone", "on_zone", "on_zone"])
    breakdown = training.ssim_breakdown([0.1, 0.2, 0.3, 0.5], zones, [10.0, 10.0, 10.0, 20.0])
    assert list(breakdown) == ["10", "20"]
    assert breakdown["10"]["on_zone"] == pytest.approx(0.2)
    assert breakdown["10"]["off_zone"] == pytest.approx(0.2)
    assert breakdown["20"]["off_zone"] is None and breakdown["20"]["n"] == {"on_zone": 1,
                                                                            "off_zone": 0}


def test_pick_examples_takes_the_median_pattern():
    zones = np.array(["on_zone"] * 3 + ["off_zone"] * 3)
    picked = training.pick_examples([0.1, 0.9, 0.5, 0.2, 0.3, 0.8], zones)
    assert picked == {"on_zone": 2, "off_zone": 4}


def _table1_inputs(n=6, size=64):
    rng = np.random.default_rng(1)
    target = np.zeros((n, size, size), np.float32)
    target[:, size // 2, size // 2] = 10.0
    target[:, ::9, ::9] = rng.random((n, len(range(0, size, 9)), len(range(0, size, 9))))
    subset = {"cbed": rng.random((n, size, size)).astype(np.float32), "target": target,
              "zone": np.array(["on_zone", "off_zone"] * (n // 2)),
              "thickness_nm": np.array([10.0, 10.0, 20.0, 20.0, 30.0, 30.0][:n]),
              "semiangle_mrad": np.full(n, 2.0),
              "material_id": np.array(["Si.A_cF8_227_a.C"] * n)}
    predictions = {name: target + 0.1 * k * rng.random(target.shape).astype(np.float32)
                   for k, name in enumerate(models.MODEL_NAMES)}
    return subset, predictions


def test_table1_numbers_and_figure():
    from fcunet_lib import evaluation

    subset, predictions = _table1_inputs()
    zone_scores = {name: evaluation.ssim_by_zone(p, subset["target"], subset["zone"])
                   for name, p in predictions.items()}
    per_pattern = {name: training.pattern_ssim(p, subset["target"])
                   for name, p in predictions.items()}
    zero = evaluation.ssim_by_zone(np.zeros_like(subset["target"]), subset["target"],
                                   subset["zone"])
    numbers = training.table1_numbers(zone_scores, per_pattern, subset,
                                      available={"on_zone": 5, "off_zone": 9},
                                      baselines={"zero_prediction": zero})
    assert numbers["n_test"] == {"on_zone": 3, "off_zone": 3,
                                 "available": {"on_zone": 5, "off_zone": 9}}
    assert numbers["paper"]["fcunet"] == {"on_zone": 0.948, "off_zone": 0.880}
    assert numbers["ssim"]["unet"]["on_zone"] == pytest.approx(1.0)
    assert set(numbers["by_thickness_nm"]["fcunet"]) == {"10", "20", "30"}
    assert list(numbers["by_semiangle_mrad"]["fcunet"]) == ["2"]
    assert numbers["test_materials"] == ["Si.A_cF8_227_a.C"]
    examples = training.table1_examples(subset, predictions, per_pattern)
    assert [e["label"].split(":")[0] for e in examples] == ["on-zone", "off-zone"]
    figure = training.plot_table1(numbers, examples, scale="smoke", provenance="test models",
                                  pixel_inv_A=0.0217)
    assert "test models" in figure.get_suptitle()
    assert _png_bytes(figure).startswith(b"\x89PNG")


def test_table1_carries_disk_accuracy_columns_and_a_correlation_row():
    from fcunet_lib import evaluation

    subset, predictions = _table1_inputs()
    zone_scores = {name: evaluation.ssim_by_zone(p, subset["target"], subset["zone"])
                   for name, p in predictions.items()}
    per_pattern = {name: training.pattern_ssim(p, subset["target"]) for name, p in predictions.items()}
    disks = {name: {"on_zone": 0.25 * k, "off_zone": 0.2 * k, "all": 0.225 * k}
             for k, name in enumerate([*models.MODEL_NAMES, "correlation"], start=1)}
    numbers = training.table1_numbers(zone_scores, per_pattern, subset,
                                      available={"on_zone": 5, "off_zone": 9}, disk_accuracy=disks)
    assert numbers["disk_accuracy"] == disks
    figure = training.plot_table1(numbers, training.table1_examples(subset, predictions, per_pattern),
                                  scale="smoke", provenance="test models", pixel_inv_A=0.0217)
    table = next(child for ax in figure.axes for child in ax.get_children()
                 if type(child).__name__ == "Table")
    cells = {key: cell.get_text().get_text() for key, cell in table.get_celld().items()}
    assert cells[(0, 3)] == "disks\non zone" and cells[(0, 5)] == "paper\non zone"
    rows = {cells[(r, 0)]: [cells[(r, c)] for c in range(1, 7)] for r in range(1, 5)}
    assert rows["FCU-Net"][2:4] == ["0.750", "0.600"]
    assert rows["py4DSTEM correlation\n(default options)"] == ["–", "–", "1.000", "0.800", "–", "–"]
    assert "disk_accuracy" not in training.table1_numbers(zone_scores, per_pattern, subset,
                                                  available={"on_zone": 5, "off_zone": 9})


def test_paper_values_are_table_i():
    assert training.PAPER_TABLE1 == {
        "unet": {"on_zone": 0.923, "off_zone": 0.750},
        "spectral_unet": {"on_zone": 0.926, "off_zone": 0.781},
        "fcunet": {"on_zone": 0.948, "off_zone": 0.880},
    }


def test_loss_label_names_the_cards_loss():
    from fcunet_lib.plots.training import loss_label

    assert loss_label({"a": {"options": {"loss": "mse"}}}) == "MSE"
    spot = {"options": {"loss": "spot_mse", "spot_weight": 100.0}}
    assert loss_label({"a": spot, "b": spot}) == "spot-weighted MSE (w = 100)"
    assert loss_label({"a": spot, "b": {"options": {"loss": "mae"}}}) == "MAE / spot-weighted MSE (w = 100)"


def test_target_label_names_each_normalisation():
    legacy = {"fcunet": _card("fcunet")}
    assert training.target_label(legacy) == "targets × target_scale"
    mixed = {**legacy, "unet": {**_card("unet"), "options": {"target_norm": "pattern_max"}}}
    assert training.target_label(mixed) == "targets / their maximum / targets × target_scale"


def test_training_recipes_warn_only_when_models_were_trained_differently():
    legacy = {"options": {"epochs": 4}, "architecture": {"levels": 5}, "command": "old"}
    new = {"options": {"target_norm": "pattern_max"},
           "architecture": {"output_activation": "rectified"}, "command": "new"}
    recipes, warning = training.training_recipes({"unet": legacy, "spectral_unet": legacy})
    assert warning == ""
    assert recipes["unet"] == {"target_norm": "global", "output_activation": "linear",
                               "command": "old"}
    recipes, warning = training.training_recipes({"unet": legacy, "fcunet": new})
    assert recipes["fcunet"]["output_activation"] == "rectified"
    assert "not like for like" in warning
    assert "U-Net: global targets, linear output" in warning
    assert "FCU-Net: pattern_max targets, rectified output" in warning
