"""Options and commands of `fcunet train` (fcunet_lib.training_run)."""

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
