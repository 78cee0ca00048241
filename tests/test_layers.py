"""Each custom layer of fcunet_lib.layers checked against numpy on tiny inputs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402
from scipy import signal  # noqa: E402

from fcunet_lib import layers  # noqa: E402

N = 32


def _np(x):
    return ops.convert_to_numpy(x)


def _to_complex(x):
    """[..., 2C] in the [Re | Im] layout -> complex [..., C]."""
    half = x.shape[-1] // 2
    return x[..., :half] + 1j * x[..., half:]


def _from_complex(z):
    return np.concatenate([z.real, z.imag], axis=-1).astype("float32")


def _centred_fft(image):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image)))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def pattern_and_probe(rng):
    cbed = rng.gamma(2.0, 50.0, size=(2, N, N, 1)).astype("float32")
    yy, xx = np.mgrid[:N, :N] - N // 2
    disk = (np.hypot(yy, xx) < 5).astype("float32")
    probe = np.stack([disk, np.roll(disk, 1, axis=0) * 3.0])[..., None]
    return cbed, probe


# --------------------------------------------------------------------------- #
# FourierCorrelation
# --------------------------------------------------------------------------- #
def _numpy_fourier_correlation(cbed, probe):
    out = []
    for image, kernel in zip(cbed[..., 0], probe[..., 0]):
        product = np.fft.fft2(np.fft.ifftshift(image)) * np.conj(
            np.fft.fft2(np.fft.ifftshift(kernel))
        )
        c = np.fft.fftshift(product)
        out.append(c / np.linalg.norm(c))
    return np.stack(out)[..., None]


def test_fourier_correlation_matches_numpy(pattern_and_probe):
    cbed, probe = pattern_and_probe
    got = _np(layers.FourierCorrelation()([cbed, probe]))
    assert got.shape == (2, N, N, 2)
    expected = _numpy_fourier_correlation(cbed, probe)
    np.testing.assert_allclose(_to_complex(got), expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got.reshape(2, -1), axis=1), 1.0, rtol=1e-5)


def test_fourier_correlation_ignores_absolute_intensity(pattern_and_probe):
    cbed, probe = pattern_and_probe
    layer = layers.FourierCorrelation()
    reference = _np(layer([cbed, probe]))
    scaled = _np(layer([7.0 * cbed, 0.3 * probe]))
    huge = _np(layer([1e30 * cbed, 1e-30 * probe]))
    np.testing.assert_allclose(scaled, reference, atol=1e-6)
    np.testing.assert_allclose(huge, reference, atol=1e-6)


def test_fourier_correlation_of_blank_pattern_is_zero(pattern_and_probe):
    _, probe = pattern_and_probe
    got = _np(layers.FourierCorrelation()([np.zeros_like(probe), probe]))
    assert np.all(got == 0.0)


def test_fourier_correlation_rejects_mismatched_probe():
    with pytest.raises(ValueError, match="probe"):
        layers.FourierCorrelation()([np.ones((1, N, N, 1)), np.ones((1, N // 2, N // 2, 1))])


# --------------------------------------------------------------------------- #
# InverseFourier
# --------------------------------------------------------------------------- #
def test_inverse_fourier_matches_numpy(rng):
    spectra = rng.normal(size=(2, N, N, 3)) + 1j * rng.normal(size=(2, N, N, 3))
    got = _np(layers.InverseFourier()(_from_complex(spectra)))
    assert got.shape == (2, N, N, 3)
    expected = np.fft.fftshift(
        np.fft.ifft2(np.fft.ifftshift(spectra, axes=(1, 2)), axes=(1, 2)), axes=(1, 2)
    ).real
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_inverse_fourier_undoes_fourier_layer_for_a_point_probe(pattern_and_probe):
    # With a delta probe the correlation is the pattern itself: the round trip
    # gives the pattern back, divided by N·||pattern|| (Parseval).
    cbed, _ = pattern_and_probe
    delta = np.zeros_like(cbed)
    delta[:, N // 2, N // 2, 0] = 1.0
    spectra = layers.FourierCorrelation()([cbed, delta])
    got = _np(layers.InverseFourier()(spectra))
    norms = np.linalg.norm(cbed.reshape(2, -1), axis=1)[:, None, None, None]
    np.testing.assert_allclose(got * N * norms, cbed, rtol=1e-4, atol=1e-3)


def test_inverse_fourier_rejects_odd_channels():
    with pytest.raises(ValueError, match=r"\[Re \| Im\]"):
        layers.InverseFourier()(np.ones((1, 8, 8, 3), "float32"))


# --------------------------------------------------------------------------- #
# ComplexConv2D
# --------------------------------------------------------------------------- #
def _numpy_complex_correlation(x, kernel, bias, mode="constant"):
    """'same' cross-correlation of complex x [B,H,W,Ci] with kernel [k,k,Ci,Co].

    ``mode`` is numpy's padding: "constant" (zeros) or "wrap" (periodic).
    """
    k = kernel.shape[0]
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],), complex)
    for u in range(k):
        for v in range(k):
            window = padded[:, u : u + height, v : v + width, :]
            out += np.einsum("bhwc,co->bhwo", window, kernel[u, v])
    return out + bias


def test_complex_conv_matches_complex_arithmetic(rng):
    x = rng.normal(size=(2, 9, 9, 3)) + 1j * rng.normal(size=(2, 9, 9, 3))
    layer = layers.ComplexConv2D(4, 3)
    layer.build((None, 9, 9, 6))
    kernel = rng.normal(size=(3, 3, 3, 4)) + 1j * rng.normal(size=(3, 3, 3, 4))
    bias = rng.normal(size=4) + 1j * rng.normal(size=4)
    layer.set_weights([kernel.real, kernel.imag, bias.real, bias.imag])
    got = _to_complex(_np(layer(_from_complex(x))))
    expected = _numpy_complex_correlation(x, kernel, bias)
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("k", [3, 5])
def test_circular_complex_conv_wraps_around_like_a_periodic_map(rng, k):
    x = rng.normal(size=(2, 8, 10, 2)) + 1j * rng.normal(size=(2, 8, 10, 2))
    layer = layers.ComplexConv2D(3, k, padding="circular")
    layer.build((None, 8, 10, 4))
    kernel = rng.normal(size=(k, k, 2, 3)) + 1j * rng.normal(size=(k, k, 2, 3))
    bias = rng.normal(size=3) + 1j * rng.normal(size=3)
    layer.set_weights([kernel.real, kernel.imag, bias.real, bias.imag])
    got = _to_complex(_np(layer(_from_complex(x))))
    np.testing.assert_allclose(got, _numpy_complex_correlation(x, kernel, bias, mode="wrap"), atol=1e-4)
    # and it commutes with a circular shift of the map, which zero padding does not
    shifted = _to_complex(_np(layer(_from_complex(np.roll(x, (3, -4), axis=(1, 2))))))
    np.testing.assert_allclose(shifted, np.roll(got, (3, -4), axis=(1, 2)), atol=1e-4)
    zeros = layers.ComplexConv2D(3, k, padding="same")
    zeros.build((None, 8, 10, 4))
    zeros.set_weights(layer.get_weights())
    assert np.abs(_to_complex(_np(zeros(_from_complex(x)))) - got).max() > 1e-2


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_periodic_padding_gradient_folds_the_halo_back(rng, k):
    # The padding's hand-written gradient must be that of "copy row i to
    # every padded row holding x[i]": the transpose of the periodic copy.
    import tensorflow as tf

    x = rng.normal(size=(2, 7, 9, 3)).astype("float32")
    before, after = (k - 1) // 2, k // 2
    rows = np.arange(-before, 7 + after) % 7
    cols = np.arange(-before, 9 + after) % 9
    weights = rng.normal(size=(2, rows.size, cols.size, 3)).astype("float32")
    variable = tf.Variable(x)
    with tf.GradientTape() as tape:
        padded = layers._wrap_hw(variable, k)
        loss = tf.reduce_sum(padded * weights)
    np.testing.assert_array_equal(_np(padded), x[:, rows][:, :, cols])
    expected = np.zeros_like(x)
    for p, i in enumerate(rows):
        for q, j in enumerate(cols):
            expected[:, i, j] += weights[:, p, q]
    np.testing.assert_allclose(_np(tape.gradient(loss, variable)), expected, rtol=1e-5, atol=1e-5)


def test_complex_conv_single_channel_matches_scipy(rng):
    # scipy's correlate conjugates its second argument; a complex kernel
    # without conjugation is a convolution with the flipped kernel.
    x = rng.normal(size=(12, 12)) + 1j * rng.normal(size=(12, 12))
    kernel = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    layer = layers.ComplexConv2D(1, 3, use_bias=False)
    layer.build((None, 12, 12, 2))
    layer.set_weights([kernel.real[..., None, None], kernel.imag[..., None, None]])
    got = _to_complex(_np(layer(_from_complex(x[None, ..., None]))))[0, ..., 0]
    expected = signal.convolve2d(x, kernel[::-1, ::-1], mode="same")
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_complex_conv_parameter_count_and_shape():
    layer = layers.ComplexConv2D(5, 3)
    out = layer(np.zeros((1, 8, 8, 6), "float32"))
    assert out.shape == (1, 8, 8, 10)
    assert layer.count_params() == 2 * 9 * 3 * 5 + 2 * 5


def test_complex_conv_rejects_odd_channels():
    with pytest.raises(ValueError, match="even"):
        layers.ComplexConv2D(2)(np.zeros((1, 8, 8, 3), "float32"))


# --------------------------------------------------------------------------- #
# CReLU and ComplexConcatenate
# --------------------------------------------------------------------------- #
def test_crelu_acts_on_real_and_imaginary_parts_separately(rng):
    z = rng.normal(size=(1, 4, 4, 2)) + 1j * rng.normal(size=(1, 4, 4, 2))
    got = _to_complex(_np(layers.CReLU()(_from_complex(z))))
    expected = np.maximum(z.real, 0) + 1j * np.maximum(z.imag, 0)
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_complex_concatenate_keeps_real_with_real(rng):
    a = rng.normal(size=(2, 4, 4, 2)) + 1j * rng.normal(size=(2, 4, 4, 2))
    b = rng.normal(size=(2, 4, 4, 3)) + 1j * rng.normal(size=(2, 4, 4, 3))
    got = _np(layers.ComplexConcatenate()([_from_complex(a), _from_complex(b)]))
    np.testing.assert_allclose(_to_complex(got), np.concatenate([a, b], axis=-1), atol=1e-7)
    # A plain concatenation pairs the wrong channels (the authors' defect).
    plain = np.concatenate([_from_complex(a), _from_complex(b)], axis=-1)
    assert not np.allclose(_to_complex(plain), np.concatenate([a, b], axis=-1))


# --------------------------------------------------------------------------- #
# SpectralPooling2D
# --------------------------------------------------------------------------- #
def _band_limited(rng, size, band, channels):
    """Real images whose frequencies satisfy |k| < band along each axis."""
    freq = np.fft.fftfreq(size, d=1.0 / size)
    allowed = (np.abs(freq)[:, None] < band) & (np.abs(freq)[None, :] < band)
    spectrum = rng.normal(size=(channels, size, size)) + 1j * rng.normal(
        size=(channels, size, size)
    )
    images = np.fft.ifft2(spectrum * allowed).real  # real part keeps the band
    return np.moveaxis(images, 0, -1)[None].astype("float32")


def test_spectral_pooling_recovers_band_limited_images_exactly(rng):
    images = _band_limited(rng, N, band=N // 4, channels=3)
    got = _np(layers.SpectralPooling2D()(images))
    assert got.shape == (1, N // 2, N // 2, 3)
    np.testing.assert_allclose(got, images[:, ::2, ::2, :], atol=1e-5)


def test_spectral_pooling_removes_frequencies_above_new_nyquist():
    yy, xx = np.mgrid[:N, :N]
    low = np.cos(2 * np.pi * 3 * xx / N)
    high = np.cos(2 * np.pi * (N // 2 - 2) * yy / N)
    got = _np(layers.SpectralPooling2D()((low + high)[None, ..., None].astype("float32")))
    np.testing.assert_allclose(got[0, ..., 0], low[::2, ::2], atol=1e-5)


def test_spectral_pooling_matches_numpy_centred_crop(rng):
    images = rng.normal(size=(2, N, N, 2)).astype("float32")
    got = _np(layers.SpectralPooling2D()(images))
    start, stop = N // 2 - N // 4, N // 2 + N // 4
    shifted = np.fft.fftshift(np.fft.fft2(images, axes=(1, 2)), axes=(1, 2))
    cropped = np.fft.ifftshift(shifted[:, start:stop, start:stop], axes=(1, 2))
    expected = np.fft.ifft2(cropped, axes=(1, 2)).real / 4
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_spectral_pooling_rejects_indivisible_size():
    with pytest.raises(ValueError, match="divisible"):
        layers.SpectralPooling2D(2)(np.zeros((1, 9, 9, 1), "float32"))


# --------------------------------------------------------------------------- #
# ImageNormalization
# --------------------------------------------------------------------------- #
def test_image_normalization_unit_norm_any_scale(pattern_and_probe):
    cbed, _ = pattern_and_probe
    layer = layers.ImageNormalization()
    reference = _np(layer(cbed))
    np.testing.assert_allclose(np.linalg.norm(reference.reshape(2, -1), axis=1), 1.0, rtol=1e-5)
    for scale in (7.0, 1e30, 1e-30):
        np.testing.assert_allclose(_np(layer(scale * cbed)), reference, rtol=1e-5, atol=1e-7)
    assert np.all(_np(layer(np.zeros_like(cbed))) == 0.0)


# --------------------------------------------------------------------------- #
# MCDropout
# --------------------------------------------------------------------------- #
def test_mc_dropout_off_at_inference_on_when_switched():
    x = np.ones((4, 16, 16, 2), "float32")
    layer = layers.MCDropout(0.5, seed=1)
    np.testing.assert_array_equal(_np(layer(x)), x)
    layer.mc_enabled = True
    first, second = _np(layer(x)), _np(layer(x))
    assert not np.array_equal(first, second)
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert abs(first.mean() - 1.0) < 0.1
    layer.mc_enabled = False
    trained = _np(layer(x, training=True))
    assert np.any(trained == 0.0)


def test_mc_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match="rate"):
        layers.MCDropout(1.0)


# --------------------------------------------------------------------------- #
# RectifiedOutput
# --------------------------------------------------------------------------- #
def test_rectified_output_clips_forward_and_passes_gradient_straight_through():
    import tensorflow as tf

    x = tf.constant([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    weights = tf.constant([[1.0, -2.0, 3.0, -4.0, 5.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layers.RectifiedOutput()(x)
        loss = tf.reduce_sum(weights * y)
    np.testing.assert_array_equal(_np(y), [[0.0, 0.0, 0.0, 0.5, 3.0]])
    # identity backward: every pixel gets its upstream gradient, clipped or not
    np.testing.assert_array_equal(_np(tape.gradient(loss, x)), _np(weights))


def test_rectified_output_pushes_a_clipped_spot_up_and_leaves_clipped_background_alone():
    import tensorflow as tf

    x = tf.constant([[-1.0, -1.0]])          # both clipped to zero
    target = tf.constant([[0.7, 0.0]])       # a spot, and empty background
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.square(layers.RectifiedOutput()(x) - target))
    gradient = _np(tape.gradient(loss, x))
    assert gradient[0, 0] < 0.0              # descent raises the missing spot
    assert gradient[0, 1] == 0.0             # the empty pixel may stay below zero


# --------------------------------------------------------------------------- #
# Serialization
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "layer",
    [
        layers.FourierCorrelation(name="f"),
        layers.InverseFourier(),
        layers.ComplexConv2D(3, 5, use_bias=False, padding="valid"),
        layers.CReLU(),
        layers.ComplexConcatenate(),
        layers.SpectralPooling2D(4),
        layers.ImageNormalization(),
        layers.MCDropout(0.2, seed=3),
        layers.RectifiedOutput(),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_serialize_round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"].startswith("fcunet>")
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
