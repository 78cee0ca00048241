"""Options and commands of `fcunet train` (fcunet_lib.training_run)."""

from pathlib import Path

import pytest

from fcunet_lib import config, training_run


def test_train_options_follow_the_scale_unless_epochs_are_given():
    preset = config.get_scale("default").training
    options = training_run.train_options("default", seed=3)
    assert (options.epochs, options.batch_size, options.seed, options.loss, options.spot_weight) == (
        preset.epochs, preset.batch_size, 3, preset.loss, preset.spot_weight)
    assert training_run.train_options("default", epochs=preset.epochs + 5).epochs == preset.epochs + 5


@pytest.mark.parametrize("epochs", [0, -2, 1.5, "4"])
def test_train_options_reject_bad_epochs(epochs):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        training_run.train_options("default", epochs=epochs)


def test_the_command_names_epochs_only_when_they_differ_from_the_scale():
    preset = config.get_scale("default").training.epochs
    base = "fcunet train --scale default --model fcunet --seed 0"
    assert training_run.train_command("default", "fcunet", 0) == base
    assert training_run.train_command("default", "fcunet", 0, preset) == base
    assert training_run.train_command("default", "fcunet", 0, preset + 8) == f"{base} --epochs {preset + 8}"


def test_a_changed_network_gets_its_own_run_folder(tmp_path):
    library = tmp_path / "library-0123456789"
    base = {"input_size": 64, "base_filters": 4, "levels": 3, "convs_per_block": 1,
            "dropout": 0.1, "output_activation": "linear"}
    same = training_run.run_folder("smoke", "fcunet", 0, library, dict(reversed(base.items())))
    assert training_run.run_folder("smoke", "fcunet", 0, library, base) == same
    other = training_run.run_folder("smoke", "fcunet", 0, library,
                                    {**base, "output_activation": "rectified"})
    assert other != same and other.parent == same.parent
    assert other.name.startswith("fcunet-seed0-library-0123456789-net")


def test_every_scale_builds_a_network_its_config_accepts():
    from fcunet_lib import models

    for scale in config.SCALE_NAMES:
        assert config.get_scale(scale).training.output_activation in models.OUTPUT_ACTIVATIONS
        assert models.model_config(scale)["output_activation"] == (
            config.get_scale(scale).training.output_activation)


def test_the_command_names_a_target_norm_or_output_that_is_not_the_scales():
    preset = config.get_scale("default").training
    base = "fcunet train --scale default --model unet --seed 0"
    assert training_run.train_command("default", "unet", 0, target_norm=preset.target_norm,
                                      output_activation=preset.output_activation) == base
    other_norm = "global" if preset.target_norm != "global" else "pattern_max"
    other_output = "linear" if preset.output_activation != "linear" else "rectified"
    assert training_run.train_command("default", "unet", 0, target_norm=other_norm,
                                      output_activation=other_output) == (
        f"{base} --target-norm {other_norm} --output-activation {other_output}")
    assert training_run.train_options("default", target_norm=other_norm).target_norm == other_norm
    assert training_run.architecture(
        "default", output_activation=other_output)["output_activation"] == other_output
    with pytest.raises(ValueError, match="output_activation 'tanh'"):
        training_run.architecture("default", output_activation="tanh")


def test_cli_train_offers_every_target_norm_and_output_activation():
    from fcunet_lib import cli, models, train

    train_parser = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {action.dest: tuple(action.choices) for action in train_parser._actions
               if action.choices}
    assert choices["target_norm"] == train.TARGET_NORMS
    assert choices["output_activation"] == models.OUTPUT_ACTIVATIONS
    assert choices["fourier_padding"] == models.FOURIER_PADDINGS


def test_legacy_cards_read_as_linear_outputs():
    assert training_run.output_activation_of({"architecture": {"levels": 5}}) == "linear"
    assert training_run.output_activation_of(
        {"architecture": {"output_activation": "rectified"}}) == "rectified"


def test_circular_fourier_padding_is_named_and_keys_its_own_run():
    default = training_run.architecture("default")
    assert "fourier_padding" not in default  # unchanged options (and run folders) for zero padding
    assert training_run.architecture("default", fourier_padding="zeros") == default
    circular = training_run.architecture("default", fourier_padding="circular")
    assert circular == {**default, "fourier_padding": "circular"}
    library = Path("library-x")
    assert (training_run.run_folder("default", "fcunet", 0, library, circular)
            != training_run.run_folder("default", "fcunet", 0, library, default))
    assert training_run.fourier_padding_of({"architecture": {"levels": 5}}) == "zeros"
    assert training_run.fourier_padding_of({"architecture": circular}) == "circular"
    with pytest.raises(ValueError, match="fourier_padding 'reflect'"):
        training_run.architecture("default", fourier_padding="reflect")
    with pytest.raises(ValueError, match="fcunet only"):
        training_run.train_and_ship("smoke", "unet", fourier_padding="circular")


def test_the_correlation_skip_is_named_keys_its_own_run_and_is_fcunets_only():
    from fcunet_lib import cli

    default = training_run.architecture("default", fourier_padding="circular")
    assert "correlation_skip" not in default  # run folders of the networks without it unchanged
    assert training_run.architecture("default", fourier_padding="circular",
                                     correlation_skip=False) == default
    skip = training_run.architecture("default", fourier_padding="circular", correlation_skip=True)
    assert skip == {**default, "correlation_skip": True}
    library = Path("library-x")
    assert (training_run.run_folder("default", "fcunet", 0, library, skip)
            != training_run.run_folder("default", "fcunet", 0, library, default))
    assert training_run.correlation_skip_of({"architecture": default}) is False
    assert training_run.correlation_skip_of({"architecture": skip}) is True
    parse = cli.build_parser().parse_args
    assert parse(["train", "--model", "fcunet", "--correlation-skip"]).correlation_skip is True
    assert parse(["train", "--model", "fcunet", "--no-correlation-skip"]).correlation_skip is False
    assert parse(["train", "--model", "fcunet"]).correlation_skip is None  # the scale's
    with pytest.raises(ValueError, match="correlation_skip applies to fcunet only"):
        training_run.train_and_ship("smoke", "unet", correlation_skip=True)


@pytest.mark.parametrize("scale", config.SCALE_NAMES)
def test_the_command_names_the_correlation_skip_only_when_it_is_not_the_scales(scale):
    skip = config.get_scale(scale).training.correlation_skip
    assert training_run.scale_correlation_skip(scale, "fcunet") is skip
    assert training_run.scale_correlation_skip(scale, "unet") is False
    assert training_run.network_options(scale, "fcunet").get("correlation_skip", False) is skip
    assert "correlation_skip" not in training_run.network_options(scale, "spectral_unet")
    base = f"fcunet train --scale {scale} --model fcunet --seed 0"
    assert training_run.train_command(scale, "fcunet", 0) == base
    assert training_run.train_command(scale, "fcunet", 0, correlation_skip=skip) == base
    other = "--no-correlation-skip" if skip else "--correlation-skip"
    assert training_run.train_command(scale, "fcunet", 0, correlation_skip=not skip) == f"{base} {other}"


@pytest.mark.parametrize("scale", config.SCALE_NAMES)
def test_the_command_names_a_fourier_padding_only_when_it_is_not_the_scales(scale):
    from fcunet_lib import models

    padding = config.get_scale(scale).training.fourier_padding
    assert padding in models.FOURIER_PADDINGS
    assert training_run.scale_fourier_padding(scale, "fcunet") == padding
    assert training_run.scale_fourier_padding(scale, "unet") is None
    base = f"fcunet train --scale {scale} --model fcunet --seed 0"
    other = "zeros" if padding == "circular" else "circular"
    assert training_run.train_command(scale, "fcunet", 0, fourier_padding=padding) == base
    assert training_run.train_command(scale, "fcunet", 0) == base
    assert training_run.train_command(scale, "fcunet", 0, fourier_padding=other) == (
        f"{base} --fourier-padding {other}")



def test_options_differences_ignore_tuples_against_lists_and_name_what_differs():
    run = {"epochs": 4, "augment": {"dose_range": (1e5, 1e10)}, "target_norm": "pattern_max"}
    card = {"epochs": 4, "augment": {"dose_range": [1e5, 1e10]}, "target_norm": "pattern_max"}
    assert training_run.options_differences(run, card) == {}
    assert training_run.options_differences({**run, "epochs": 6}, card) == {"epochs": {"run": 6, "card": 4}}
    # a card from before target_norm existed trained with the global factor
    legacy = {key: value for key, value in card.items() if key != "target_norm"}
    assert training_run.options_differences({**run, "target_norm": "global"}, legacy) == {}
    assert set(training_run.options_differences(run, legacy)) == {"target_norm"}
    # and one from before jit_compile existed trained without XLA
    assert training_run.options_differences({**run, "jit_compile": False}, card) == {}
    assert training_run.options_differences({**run, "jit_compile": True}, card) == {
        "jit_compile": {"run": True, "card": False}}


def test_an_xla_run_is_named_in_the_command_and_keys_its_own_run_folder(tmp_path):
    base = "fcunet train --scale default --model unet --seed 0"
    assert training_run.train_command("default", "unet", 0, jit_compile=True) == f"{base} --jit-compile"
    assert training_run.train_options("default", jit_compile=True).jit_compile is True
    assert training_run.train_options("default").jit_compile is False
    library = tmp_path / "library-0123456789"
    plain = training_run.run_folder("default", "unet", 0, library, {"levels": 3})
    xla = training_run.run_folder("default", "unet", 0, library, {"levels": 3}, jit_compile=True)
    assert xla == plain.with_name(plain.name + "-xla")


def test_a_mixed_precision_run_is_named_in_the_command_and_keys_its_own_run_folder(tmp_path):
    base = "fcunet train --scale default --model unet --seed 0"
    command = training_run.train_command("default", "unet", 0, jit_compile=True,
                                         mixed_precision="mixed_bfloat16")
    assert command == f"{base} --jit-compile --mixed-precision mixed_bfloat16"
    options = training_run.train_options("default", mixed_precision="mixed_bfloat16")
    assert options.mixed_precision == "mixed_bfloat16" and options.jit_compile is False
    library = tmp_path / "library-0123456789"
    plain = training_run.run_folder("default", "unet", 0, library, {"levels": 3})
    bf16 = training_run.run_folder("default", "unet", 0, library, {"levels": 3},
                                   mixed_precision="mixed_bfloat16")
    both = training_run.run_folder("default", "unet", 0, library, {"levels": 3},
                                   jit_compile=True, mixed_precision="mixed_float16")
    assert bf16 == plain.with_name(plain.name + "-bf16")
    assert both == plain.with_name(plain.name + "-xla-fp16")
    assert training_run.speed_labels() == [] and training_run.speed_flags() == ""
    from fcunet_lib import train

    assert set(training_run.MIXED_PRECISION_LABELS) == set(train.MIXED_PRECISION_POLICIES)
    with pytest.raises(ValueError, match="mixed_precision 'bfloat16'"):
        training_run.run_folder("default", "unet", 0, library, mixed_precision="bfloat16")


def test_cli_train_offers_jit_compile():
    from fcunet_lib import cli

    args = cli.build_parser().parse_args(["train", "--model", "unet", "--jit-compile"])
    assert args.jit_compile is True
    assert cli.build_parser().parse_args(["train", "--model", "unet"]).jit_compile is False
    args = cli.build_parser().parse_args(["train", "--model", "unet",
                                          "--mixed-precision", "mixed_bfloat16"])
    assert args.mixed_precision == "mixed_bfloat16"
    assert cli.build_parser().parse_args(["train", "--model", "unet"]).mixed_precision is None


@pytest.mark.parametrize("name", ["unet", "spectral_unet", "fcunet"])
def test_the_shipped_cards_hold_the_options_a_retrain_asks_for(name):
    """tools/check_retrain.py retrains with these options; they must be the card's."""
    from fcunet_lib import evaluation, model_store

    card = model_store.read_card(name, folder=training_run.scale_models_dir("default"))
    options = training_run.train_options("default", seed=card["seed"],
                                         target_norm=evaluation.target_norm_of(card))
    assert training_run.options_differences(options.to_dict(), card["options"]) == {}


def test_load_network_reads_a_model_file_with_its_run_state(tmp_path):
    import json

    from fcunet_lib import model_store, models

    model = models.build_model("unet", input_size=64, base_filters=2, levels=2, convs_per_block=1, dropout=0.1)
    path = tmp_path / "checkpoint-0001.keras"
    model.save(path)
    (tmp_path / "state.json").write_text(json.dumps({"options": {"target_norm": "pattern_max"},
                                                     "target_scale": 1.0, "epochs_done": 1}))
    loaded = training_run.load_network("default", "unet", model_file=path)
    assert loaded.card["sha256"] == model_store.sha256_of(path)
    assert loaded.card["options"] == {"target_norm": "pattern_max"} and str(path) in loaded.card["command"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        training_run.load_network("default", "unet", model_file=tmp_path / "missing.keras")


def test_load_model_file_reads_a_card_beside_it_and_rejects_a_bare_file(tmp_path):
    from fcunet_lib import model_store

    folder = training_run.scale_models_dir("default")
    shipped = training_run.load_model_file(folder / "unet.keras")
    assert shipped.card == model_store.read_card("unet", folder=folder)
    bare = tmp_path / "bare.keras"
    bare.write_bytes((folder / "unet.keras").read_bytes())
    with pytest.raises(ValueError, match="state.json"):
        training_run.load_model_file(bare)


def test_the_command_names_a_multi_energy_library_and_another_models_folder():
    base = "fcunet train --scale default --model fcunet --seed 0"
    assert training_run.train_command("default", "fcunet", 0, other_energies_kv=()) == base
    assert (training_run.train_command("default", "fcunet", 0, other_energies_kv=(80.0, 200.0))
            == f"{base} --other-energies 80 200")
    assert (training_run.train_command("default", "fcunet", 0, models_dir="build/m")
            == f"{base} --models-dir build/m")


def test_the_command_line_passes_other_energies_and_models_dir():
    from fcunet_lib.cli import build_parser

    parser = build_parser()
    lib = parser.parse_args(["library", "--other-energies", "80", "200"])
    assert lib.other_energies == [80.0, 200.0]
    assert parser.parse_args(["library"]).other_energies is None
    tr = parser.parse_args(["train", "--model", "fcunet", "--other-energies", "80",
                            "--models-dir", "elsewhere"])
    assert (tr.other_energies, tr.models_dir) == ([80.0], "elsewhere")
