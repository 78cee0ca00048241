"""The three networks of Table I: shapes, validation, saving, MC dropout, budgets."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fcunet_lib import layers, models  # noqa: E402

TINY = dict(base_filters=2, levels=2, convs_per_block=1, dropout=0.2)


def _inputs(size, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    cbed = rng.gamma(2.0, 10.0, size=(batch, size, size, 1)).astype("float32")
    yy, xx = np.mgrid[:size, :size] - size // 2
    probe = (np.hypot(yy, xx) < size / 10).astype("float32")
    return [cbed, np.broadcast_to(probe[None, ..., None], cbed.shape).copy()]


def _random_output_kernel(model, seed=0):
    """Give the zero-initialised output convolution random weights, so an
    untrained model's prediction depends on its input (and on dropout)."""
    layer = model.get_layer("structure_factor")
    if not hasattr(layer, "kernel"):  # a rectified head: the convolution comes first
        layer = model.get_layer("structure_factor_linear")
    kernel = layer.kernel
    values = np.random.default_rng(seed).normal(0, 0.3, tuple(kernel.shape)).astype("float32")
    kernel.assign(values)
    return model


@pytest.fixture(scope="module")
def tiny_models():
    keras.utils.set_random_seed(0)
    return {name: _random_output_kernel(models.build_model(name, input_size=64, **TINY))
            for name in models.MODEL_NAMES}


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_untrained_network_predicts_the_empty_image(name):
    # Zero-initialised output kernel (and zero bias): the starting point is the
    # all-zero structure-factor image, whatever the input.
    keras.utils.set_random_seed(0)
    model = models.build_model(name, input_size=64, **TINY)
    prediction = model.predict(_inputs(64), verbose=0)
    assert prediction.shape == (2, 64, 64, 1) and not np.any(prediction)


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_builder_runs(name, size):
    model = models.build_model(name, input_size=size, **TINY)
    assert [tuple(t.shape) for t in model.inputs] == [(None, size, size, 1)] * 2
    assert [t.name for t in model.inputs] == ["cbed", "probe"]
    prediction = model.predict(_inputs(size), verbose=0)
    assert prediction.shape == (2, size, size, 1)
    assert np.all(np.isfinite(prediction))


def test_builders_share_names_and_dispatch():
    assert models.MODEL_NAMES == ("unet", "spectral_unet", "fcunet")
    for name in models.MODEL_NAMES:
        assert getattr(models, name) is models._BUILDERS[name]


@pytest.mark.parametrize(
    "config, message",
    [
        (dict(input_size=96), "power of two"),
        (dict(input_size=32), "power of two"),
        (dict(input_size=512), "power of two"),
        (dict(input_size=128.0), "power of two"),
        (dict(input_size=64, levels=6), "too deep"),
        (dict(input_size=256, levels=8), "too deep"),
        (dict(input_size=64, base_filters=0), "base_filters"),
        (dict(input_size=64, convs_per_block=1.5), "convs_per_block"),
        (dict(input_size=64, dropout=1.0), "dropout"),
        (dict(input_size=64, dropout="0.1"), "dropout"),
        (dict(input_size=64, real_width_factor=0), "real_width_factor"),
        (dict(input_size=64, output_activation="tanh"), "output_activation"),
    ],
)
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_invalid_configurations_raise(name, config, message):
    with pytest.raises(ValueError, match=message):
        models.build_model(name, **{**TINY, **config})


def test_build_model_rejects_unknown_name_and_missing_size():
    with pytest.raises(ValueError, match="unknown model name 'resnet'"):
        models.build_model("resnet", input_size=64, **TINY)
    with pytest.raises(ValueError, match="input_size"):
        models.build_model("fcunet", **TINY)


def test_deepest_levels_allowed():
    model = models.build_model("fcunet", input_size=64, **{**TINY, "levels": 5})
    bottleneck = model.get_layer("bottleneck_conv0").output.shape
    assert bottleneck[1:3] == (2, 2)


def test_model_config_of_scales_builds():
    config = models.model_config("smoke")
    assert config["input_size"] == 64
    assert models.build_model("fcunet", **config).output.shape == (None, 64, 64, 1)
    with pytest.raises(ValueError, match="scale"):
        models.model_config("huge")


def test_fcunet_layout(tiny_models):
    model = tiny_models["fcunet"]
    kinds = {type(layer) for layer in model.layers}
    assert {layers.FourierCorrelation, layers.ComplexConv2D, layers.InverseFourier} <= kinds
    skips = [layer for layer in model.layers if layer.name.startswith("skip")]
    assert len(skips) == TINY["levels"]
    assert all(isinstance(layer, layers.ComplexConcatenate) for layer in skips)
    assert isinstance(model.get_layer("head_conv0"), keras.layers.Conv2D)
    assert model.get_layer("structure_factor").activation.__name__ == "linear"


def test_spectral_unet_differs_from_unet_only_in_pooling(tiny_models):
    def pools(model):
        return [type(layer) for layer in model.layers if layer.name.startswith("pool")]

    assert pools(tiny_models["unet"]) == [keras.layers.MaxPooling2D] * 2
    assert pools(tiny_models["spectral_unet"]) == [layers.SpectralPooling2D] * 2
    assert tiny_models["unet"].count_params() == tiny_models["spectral_unet"].count_params()


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_prediction_ignores_absolute_intensity(tiny_models, name):
    cbed, probe = _inputs(64)
    model = tiny_models[name]
    reference = model.predict([cbed, probe], verbose=0)
    scaled = model.predict([7.0 * cbed, 0.3 * probe], verbose=0)
    np.testing.assert_allclose(scaled, reference, rtol=1e-4, atol=1e-5)


def test_parameter_budgets_match():
    config = dict(input_size=64, base_filters=4, levels=3, convs_per_block=2, dropout=0.1)
    counts = {
        name: models.build_model(name, **config).count_params() for name in models.MODEL_NAMES
    }
    assert counts["unet"] == counts["spectral_unet"]
    assert abs(counts["unet"] / counts["fcunet"] - 1) < 0.05, counts


def test_nonnegative_output_option():
    model = models.build_model("unet", input_size=64, output_activation="relu", **TINY)
    assert np.all(model.predict(_inputs(64), verbose=0) >= 0.0)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_rectified_output_is_nonnegative_and_round_trips(name, tmp_path):
    model = _random_output_kernel(
        models.build_model(name, input_size=64, output_activation="rectified", **TINY))
    data = _inputs(64)
    prediction = model.predict(data, verbose=0)
    assert prediction.min() == 0.0 and prediction.max() > 0.0  # clipped, not empty
    path = tmp_path / f"{name}.keras"
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(data, verbose=0),
                               prediction, atol=1e-6)


def test_rectified_output_learns_from_the_zero_start():
    # A ReLU head with the zero-initialised output kernel gets no gradient at
    # all; the rectified head must move off the empty image (20 Adam steps
    # take the tiny FCU-Net's spot from 0 to about 0.5).
    keras.utils.set_random_seed(0)
    model = models.build_model("fcunet", input_size=64, output_activation="rectified", **TINY)
    cbed, probe = _inputs(64, batch=4)
    target = np.zeros((4, 64, 64, 1), "float32")
    target[:, 32, 32] = 1.0
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    assert not np.any(model.predict([cbed, probe], verbose=0))  # the empty image
    model.fit([cbed, probe], target, epochs=20, verbose=0)
    # batch statistics: 20 steps are too few for the moving averages of inference mode
    prediction = np.asarray(model([cbed, probe], training=True))
    assert prediction.min() >= 0.0
    assert prediction[:, 32, 32].mean() > 0.1
    assert np.mean((prediction - target) ** 2) < np.mean(target ** 2)  # better than empty


def test_circular_fourier_padding_builds_round_trips_and_swaps_with_the_same_weights(tmp_path):
    circular = _random_output_kernel(
        models.build_model("fcunet", input_size=64, fourier_padding="circular", **TINY))
    complex_convs = [layer for layer in circular.layers if isinstance(layer, layers.ComplexConv2D)]
    assert complex_convs and {layer.padding for layer in complex_convs} == {"circular"}
    data = _inputs(64)
    prediction = circular.predict(data, verbose=0)
    path = tmp_path / "circular.keras"
    circular.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path).predict(data, verbose=0), prediction)
    # the same weights with zero padding: another network; swapping back gives this one again
    zeros = models.with_fourier_padding(circular, "zeros")
    assert {layer.padding for layer in zeros.layers if isinstance(layer, layers.ComplexConv2D)} == {"same"}
    assert np.abs(zeros.predict(data, verbose=0) - prediction).max() > 0
    np.testing.assert_array_equal(
        models.with_fourier_padding(zeros, "circular").predict(data, verbose=0), prediction)
    with pytest.raises(ValueError, match="no complex convolutions"):
        models.with_fourier_padding(models.build_model("unet", input_size=64, **TINY), "circular")
    with pytest.raises(ValueError, match="fourier_padding"):
        models.build_model("fcunet", input_size=64, fourier_padding="reflect", **TINY)


def test_correlation_skip_hands_the_head_the_pattern_probe_cross_correlation(tmp_path):
    size, shift = 64, (5, -3)
    model = _random_output_kernel(models.build_model(
        "fcunet", input_size=size, fourier_padding="circular", correlation_skip=True, **TINY))
    head_input = model.get_layer("correlation_skip")
    assert len(head_input.input) == 2 and head_input.output.shape[-1] == TINY["base_filters"] + 1
    yy, xx = np.mgrid[:size, :size] - size // 2
    probe = (np.hypot(yy, xx) < 4).astype("float32")
    pattern = np.roll(probe, shift, axis=(0, 1)) + 0.5 * np.roll(probe, (-12, 9), axis=(0, 1))
    batch = [pattern[None, ..., None], probe[None, ..., None]]
    correlation = keras.Model(model.inputs, model.get_layer("correlation_map").output)
    found = np.asarray(correlation.predict(batch, verbose=0))[0, ..., 0]
    # circular cross-correlation, written out: sum_x pattern[x] probe[x - k], centred at N//2
    expected = np.real(np.fft.ifft2(np.fft.fft2(pattern) * np.conj(np.fft.fft2(probe))))
    expected = np.roll(expected, (size // 2, size // 2), axis=(0, 1))
    assert np.unravel_index(found.argmax(), found.shape) == (size // 2 + shift[0], size // 2 + shift[1])
    np.testing.assert_allclose(found / found.max(), expected / expected.max(), atol=1e-5)
    path = tmp_path / "skip.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path).predict(batch, verbose=0),
                                  model.predict(batch, verbose=0))
    assert "correlation_map" not in {layer.name for layer in
                                     models.build_model("fcunet", input_size=size, **TINY).layers}
    with pytest.raises(ValueError, match="correlation_skip must be True or False"):
        models.build_model("fcunet", input_size=size, correlation_skip="yes", **TINY)


def test_forward_flops_counts_convolutions():
    inputs = keras.Input((16, 16, 3))
    out = keras.layers.Conv2D(5, 3, padding="same")(inputs)
    model = keras.Model(inputs, out)
    assert models.forward_flops(model) == 2 * 9 * 3 * 5 * 16 * 16
    config = dict(input_size=64, base_filters=4, levels=3, convs_per_block=2, dropout=0.1)
    flops = {
        name: models.forward_flops(models.build_model(name, **config))
        for name in models.MODEL_NAMES
    }
    # Matched parameters, but a complex conv costs a real conv of twice the channels.
    assert 1.5 < flops["fcunet"] / flops["unet"] < 2.5
    assert flops["spectral_unet"] > flops["unet"]


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_save_and_load_round_trip(tiny_models, tmp_path, name):
    model = tiny_models[name]
    data = _inputs(64)
    before = model.predict(data, verbose=0)
    np.testing.assert_array_equal(model.predict(data, verbose=0), before)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), before)


def test_mc_dropout_switch(tiny_models):
    model = tiny_models["fcunet"]
    data = _inputs(64)
    deterministic = model.predict(data, verbose=0)
    with models.mc_dropout(model):
        first = model.predict(data, verbose=0)
        second = model.predict(data, verbose=0)
        direct = keras.ops.convert_to_numpy(model(data))
    assert not np.array_equal(first, second)
    assert not np.array_equal(direct, deterministic)
    np.testing.assert_array_equal(model.predict(data, verbose=0), deterministic)
    # every block of the U-Net has dropout; the real head has none
    assert models.set_mc_dropout(model, False) == 2 * TINY["levels"] + 1


def test_mc_passes_of_loaded_models_repeat_with_the_same_seed(tiny_models, tmp_path):
    # A loaded model's dropout generators start from random states; the seed resets them.
    path = tmp_path / "fcunet.keras"
    tiny_models["fcunet"].save(path)
    data = _inputs(64)
    runs = []
    for _ in range(2):
        loaded = keras.saving.load_model(path)
        runs.append([models.predict_mc(loaded, data, passes=3, seed=seed)[0] for seed in (0, 0, 5)])
    for run in runs:
        np.testing.assert_array_equal(run[0], run[1])
        assert not np.array_equal(run[0], run[2])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0"])
def test_seed_mc_dropout_rejects_bad_seeds(tiny_models, seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        models.seed_mc_dropout(tiny_models["fcunet"], seed)


def test_predict_mc_mean_and_spread(tiny_models):
    model = tiny_models["unet"]
    data = _inputs(64)
    mean, std = models.predict_mc(model, data, passes=4)
    assert mean.shape == std.shape == (2, 64, 64, 1)
    assert np.all(std >= 0) and std.max() > 0
    single, zero = models.predict_mc(model, data, passes=1)
    np.testing.assert_allclose(single, model.predict(data, verbose=0), rtol=1e-6, atol=1e-7)
    assert np.all(zero == 0)
    one_by_one, _ = models.predict_mc(model, data, passes=1, batch_size=1)
    np.testing.assert_allclose(one_by_one, single, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="passes"):
        models.predict_mc(model, data, passes=0)
    with pytest.raises(ValueError, match="batch_size"):
        models.predict_mc(model, data, passes=1, batch_size=0)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_models_run_under_mixed_bfloat16(name):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.build_model(name, input_size=64, **TINY)
        prediction = model.predict(_inputs(64), verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("enc0_conv0").compute_dtype == "bfloat16"
    assert prediction.dtype == np.float32 and np.all(np.isfinite(prediction))


@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_every_weight_learns_on_a_tiny_batch(name):
    # Gradients reach every layer, through the FFT layers too.
    keras.utils.set_random_seed(1)
    model = models.build_model(name, input_size=64, **{**TINY, "dropout": 0.0})
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    data = _inputs(64, batch=4)
    target = np.random.default_rng(1).random((4, 64, 64, 1)).astype("float32")
    initial = [w.copy() for w in model.get_weights()]
    losses = [float(model.train_on_batch(data, target)) for _ in range(8)]
    assert losses[-1] < losses[0]
    trainable = {id(w) for w in model.trainable_weights}
    for weight, before in zip(model.weights, initial):
        if id(weight) in trainable:
            assert not np.allclose(keras.ops.convert_to_numpy(weight), before), weight.path
