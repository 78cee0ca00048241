"""The three networks of Table I, built on one U-Net skeleton.

=================  ====================================================
``unet``           real U-Net, max pooling
``spectral_unet``  real U-Net, spectral pooling (Rippel et al. 2015)
``fcunet``         FCU-Net: Fourier layer → complex U-Net → inverse FFT
=================  ====================================================

All three take two inputs, ``cbed`` and ``probe`` (each ``[N, N, 1]``,
centred at ``(N//2, N//2)``, any intensity scale) and return the
structure-factor image ``[N, N, 1]``.  They share everything but the middle:

* input step — real nets: each image scaled to unit L2 norm, stacked as two
  real channels; FCU-Net: :class:`~fcunet_lib.layers.FourierCorrelation`
  (centred FFT of the pattern–probe cross-correlation, unit norm, ``[Re|Im]``);
* batch norm, then the U-Net skeleton of :func:`_unet_skeleton`:
  ``levels`` encoder blocks each followed by 2× pooling, a bottleneck block,
  and ``levels`` decoder steps (nearest 2× upsampling → skip concatenation →
  block); a block is ``convs_per_block`` × [3×3 conv → batch norm → ReLU →
  MC dropout];
* FCU-Net only: :class:`~fcunet_lib.layers.InverseFourier` back to real space;
* head, identical in all three: batch norm, one real block, linear 3×3
  ``Conv2D(1)``.

Widths and matched budgets
--------------------------
``base_filters`` counts complex channels of FCU-Net; level ``e`` has
``min(base_filters·2**e, max_filters)`` of them.  A complex convolution has
two real kernels, so a real convolution with √2 times as many channels has
the same number of parameters: the real networks use
``round(√2 · min(base_filters·2**e, max_filters))`` channels at level ``e``
(``real_width_factor``).  Parameters then match within a few percent; the
complex network still does about twice the arithmetic (its block kernel is
a real convolution of 2·C channels), see :func:`forward_flops`.

Output
------
The final convolution is linear (``output_activation="linear"``, the
authors' choice) or clipped at zero by :class:`~fcunet_lib.layers.RectifiedOutput`
(``"rectified"``: ReLU forward, gradient passed straight through). Targets
are non-negative and mostly exactly zero; SSIM, and peak finding, suffer
from any haze a linear output leaves in the empty background (a background
of 1.7 % of the window's range already lowers SSIM there by 3×, from the
constants of its formula). A plain ReLU output dies with the zero-initialised
output kernel (no gradient at all at the first step; measured: a ReLU
FCU-Net predicted exactly zero after one epoch on the default library);
softplus cannot reach the exact zeros. ``"relu"`` and ``"softplus"`` stay
available for experiments.

Padding of the Fourier-domain convolutions
------------------------------------------
FCU-Net's complex convolutions act on discrete spectra, which are periodic.
The authors pad them with zeros (``fourier_padding="zeros"``, the builders'
default and the ``smoke`` and ``paper`` scales'); that puts a step at the
spectrum's edges, and its inverse FFT is a cross of streaks through the
pattern's centre. ``fourier_padding="circular"`` wraps the spectrum around
instead; the ``default`` and ``full`` scales train with it
(:attr:`fcunet_lib.config.TrainingSettings.fourier_padding`). Measured on the
earlier default FCU-Net (trained with zeros) rebuilt with circular padding and
the same weights (:func:`with_fourier_padding`), on 300 validation patterns
(``models/checks/fourier_padding_fcunet.json``, written by
``tools/validation_scores.py --fourier-padding circular``): the two lines
through the centre went from 7.0× to 2.0× as bright as the lines 4 px beside
them, SSIM on / off zone from 0.70 / 0.73 to 0.73 / 0.78 and the eq. (1) disk
accuracy from 0.41 to 0.45, with no retraining. Trained with circular padding
(the shipped model), 0.76 / 0.80 and 0.46
(``models/checks/validation_scores_circular.json``). The wrap costs time: each
complex convolution runs on a copy of its input grown by the kernel's
margin, whose gradient is written by hand to fold the margin back in one pass
(``benchmarks/model.py`` times the FCU-Net with both paddings,
``benchmarks/periodic_padding.py`` the wrap's gradient).

Correlation skip
----------------
Peak finding on the cross-correlation of pattern and probe is what py4DSTEM's
baseline does, and the Fourier layer's output is exactly that
cross-correlation's spectrum. The authors' FCU-Net can only reach it through
the complex U-Net, whose CReLUs and Fourier-domain max pooling do not pass a
spectrum through unchanged. ``correlation_skip=True`` hands the real head the
correlation map as a second input (one real channel, the inverse FFT of the
Fourier layer's output), so the network starts from what correlation sees
and the complex U-Net adds what multiple scattering hides from it. The
``default`` and ``full`` scales train with it
(:attr:`fcunet_lib.config.TrainingSettings.correlation_skip`). Trained with the
default recipe and seed, on 300 validation patterns
(``models/checks/validation_scores_correlation_skip.json``): eq. (1) disk
accuracy 0.46 → 0.50 (0.39 → 0.43 without the direct beam), SSIM on / off zone
0.758 / 0.804 → 0.766 / 0.806.

Two departures from the authors' head, both measured on 64 default-library
patterns (``build/exp`` scripts, see the session notes): the output kernel
starts at zero, and the real head has no dropout. With random output
weights and dropout 0.1 in the head, 200 Adam steps left the training MSE
25× above that of the all-zero image (targets are about 0.5 % spot
pixels); without head dropout 3× above; with both changes it is below the
all-zero image from the first 40 steps.

Monte-Carlo dropout
-------------------
Dropout layers are :class:`~fcunet_lib.layers.MCDropout`: off at inference
unless switched on, e.g. ::

    mean, std = predict_mc(model, [cbed, probe], passes=10)
    with mc_dropout(model):                 # or by hand
        preds = [model.predict([cbed, probe]) for _ in range(10)]
"""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np

from fcunet_lib import layers as fl_layers

__all__ = [
    "MODEL_NAMES",
    "INPUT_SIZES",
    "OUTPUT_ACTIVATIONS",
    "FOURIER_PADDINGS",
    "unet",
    "spectral_unet",
    "fcunet",
    "build_model",
    "with_fourier_padding",
    "model_config",
    "forward_flops",
    "set_mc_dropout",
    "seed_mc_dropout",
    "mc_dropout",
    "predict_mc",
]

#: Names of the three networks of Table I, in the table's order.
MODEL_NAMES: tuple[str, ...] = ("unet", "spectral_unet", "fcunet")
#: Pattern sizes the builders accept [pixels].
INPUT_SIZES: tuple[int, ...] = (64, 128, 256)
#: Activations allowed on the final convolution.
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("linear", "rectified", "relu", "softplus")
#: Padding of FCU-Net's Fourier-domain convolutions (see "Padding of the Fourier-domain convolutions").
FOURIER_PADDINGS: tuple[str, ...] = ("zeros", "circular")
#: Smallest spatial size at the bottleneck [pixels].
_MIN_BOTTLENECK = 2
_KERNEL = 3


# --------------------------------------------------------------------------- #
# Builders
# --------------------------------------------------------------------------- #
def unet(
    input_size,
    *,
    base_filters,
    levels,
    convs_per_block,
    dropout,
    max_filters=256,
    real_width_factor=math.sqrt(2),
    pooling="max",
    output_activation="linear",
    name="unet",
):
    """Real U-Net of Table I (pattern and probe as two real channels).

    Parameters
    ----------
    input_size : int
        Pattern size N [pixels]: 64, 128 or 256.
    base_filters : int
        Complex-equivalent channels at the first level; the real network uses
        ``round(real_width_factor · base_filters · 2**e)`` at level ``e``.
    levels : int
        Poolings in the encoder; the bottleneck is ``N / 2**levels`` pixels
        wide and must be at least 2.
    convs_per_block : int
        3×3 convolutions per block ("filter depth").
    dropout : float
        Monte-Carlo dropout rate after every convolution, in [0, 1).
    max_filters : int
        Cap on complex-equivalent channels per level (authors: 256).
    real_width_factor : float
        Channels of the real network per complex channel; √2 matches the
        parameter count of :func:`fcunet`.
    pooling : {"max", "spectral"}
        Downsampling of the encoder.
    output_activation : {"linear", "rectified", "relu", "softplus"}
        Activation of the final convolution (see the module docstring,
        "Output").
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Inputs ``cbed`` and ``probe`` ``[N, N, 1]``, output ``[N, N, 1]``.
    """
    _check_config(input_size, base_filters, levels, convs_per_block, dropout, max_filters)
    _check_width_factor(real_width_factor)
    _check_choice("pooling", pooling, ("max", "spectral"))
    _check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    cbed, probe = _inputs(input_size)
    x = keras.layers.Concatenate(name="stack")(
        [
            fl_layers.ImageNormalization(name="norm_cbed")(cbed),
            fl_layers.ImageNormalization(name="norm_probe")(probe),
        ]
    )
    x = keras.layers.BatchNormalization(name="input_bn")(x)
    widths = _real_widths(base_filters, levels, max_filters, real_width_factor)
    pool = _spectral_pool if pooling == "spectral" else _max_pool
    x = _unet_skeleton(
        x,
        widths,
        convs_per_block=convs_per_block,
        dropout=dropout,
        conv=_real_conv,
        activation=_relu,
        pool=pool,
        concat=_real_concat,
    )
    out = _head(x, widths[0], convs_per_block, output_activation)
    return keras.Model([cbed, probe], out, name=name)


def spectral_unet(
    input_size,
    *,
    base_filters,
    levels,
    convs_per_block,
    dropout,
    max_filters=256,
    real_width_factor=math.sqrt(2),
    output_activation="linear",
    name="spectral_unet",
):
    """Real U-Net with spectral pooling: Table I's "U-Net (spectral)".

    Identical to :func:`unet` except that every 2× downsampling keeps the
    central quarter of the spectrum (:class:`~fcunet_lib.layers.SpectralPooling2D`)
    instead of taking a 2×2 maximum.  Parameters as :func:`unet`.

    Returns
    -------
    keras.Model
        Inputs ``cbed`` and ``probe`` ``[N, N, 1]``, output ``[N, N, 1]``.
    """
    return unet(
        input_size,
        base_filters=base_filters,
        levels=levels,
        convs_per_block=convs_per_block,
        dropout=dropout,
        max_filters=max_filters,
        real_width_factor=real_width_factor,
        pooling="spectral",
        output_activation=output_activation,
        name=name,
    )


def fcunet(
    input_size,
    *,
    base_filters,
    levels,
    convs_per_block,
    dropout,
    max_filters=256,
    real_width_factor=math.sqrt(2),
    output_activation="linear",
    fourier_padding="zeros",
    correlation_skip=False,
    name="fcunet",
):
    """FCU-Net: a complex U-Net in the Fourier domain of the pattern.

    Fourier layer (centred FFT of the pattern–probe cross-correlation, unit
    norm) → complex U-Net (complex 3×3 convolutions, batch norm on the stacked
    ``[Re | Im]`` channels, CReLU, max pooling of Re and Im separately,
    Re/Im-correct skips) → inverse FFT (real part) → real head.

    Parameters
    ----------
    input_size, base_filters, levels, convs_per_block, dropout, max_filters
        As :func:`unet`; ``base_filters`` counts complex channels here.
    real_width_factor : float
        Width of the real head block per complex channel of the first level
        (the same head as the real networks).
    output_activation : {"linear", "rectified", "relu", "softplus"}
        Activation of the final convolution (see the module docstring,
        "Output").
    fourier_padding : {"zeros", "circular"}
        Padding of the complex convolutions (see the module docstring,
        "Padding of the Fourier-domain convolutions").
    correlation_skip : bool
        Also hand the head the pattern–probe cross-correlation map itself (the
        inverse FFT of the Fourier layer's output, one real channel) beside
        the complex U-Net's output (see the module docstring, "Correlation
        skip"). ``False`` is the authors' network.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Inputs ``cbed`` and ``probe`` ``[N, N, 1]``, output ``[N, N, 1]``.
    """
    _check_config(input_size, base_filters, levels, convs_per_block, dropout, max_filters)
    if not isinstance(correlation_skip, bool):
        raise ValueError(f"correlation_skip must be True or False; got {correlation_skip!r}")
    _check_width_factor(real_width_factor)
    _check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
    _check_choice("fourier_padding", fourier_padding, FOURIER_PADDINGS)
    padding = _COMPLEX_PADDING[fourier_padding]
    cbed, probe = _inputs(input_size)
    spectrum = fl_layers.FourierCorrelation(name="fourier")([cbed, probe])
    x = keras.layers.BatchNormalization(name="input_bn")(spectrum)
    widths = _complex_widths(base_filters, levels, max_filters)
    x = _unet_skeleton(
        x,
        widths,
        convs_per_block=convs_per_block,
        dropout=dropout,
        conv=lambda width, name: _complex_conv(width, name, padding=padding),
        activation=_crelu,
        pool=_max_pool,
        concat=_complex_concat,
    )
    x = fl_layers.InverseFourier(name="inverse_fourier")(x)
    if correlation_skip:
        correlation = fl_layers.InverseFourier(name="correlation_map")(spectrum)
        x = keras.layers.Concatenate(name="correlation_skip")([x, correlation])
    head_width = _real_widths(base_filters, 0, max_filters, real_width_factor)[0]
    out = _head(x, head_width, convs_per_block, output_activation)
    return keras.Model([cbed, probe], out, name=name)


_BUILDERS = {"unet": unet, "spectral_unet": spectral_unet, "fcunet": fcunet}


def build_model(name, **config):
    """Build one of the networks of Table I by name.

    Parameters
    ----------
    name : {"unet", "spectral_unet", "fcunet"}
        Which network.
    **config
        ``input_size`` and the builder's keyword options, e.g. the output of
        :func:`model_config`.

    Returns
    -------
    keras.Model
        The untrained network.

    Raises
    ------
    ValueError
        If ``name`` is unknown, ``input_size`` is missing or an option is invalid.
    """
    _check_choice("model name", name, MODEL_NAMES)
    config = dict(config)
    if "input_size" not in config:
        raise ValueError("build_model needs input_size (the pattern size N [pixels])")
    input_size = config.pop("input_size")
    return _BUILDERS[name](input_size, **config)


def with_fourier_padding(model, fourier_padding):
    """The same FCU-Net, weights and all, with other padding of its complex convolutions.

    For diagnostics: a network trained with one padding and run with the
    other is not the network that was trained. Layers other than
    :class:`~fcunet_lib.layers.ComplexConv2D` are copied unchanged.

    Parameters
    ----------
    model : keras.Model
        An FCU-Net (any model with complex convolutions).
    fourier_padding : {"zeros", "circular"}

    Returns
    -------
    keras.Model
        A new model sharing no variables with ``model``.

    Raises
    ------
    ValueError
        If the padding is unknown or the model has no complex convolution.
    """
    _check_choice("fourier_padding", fourier_padding, FOURIER_PADDINGS)
    network = model.get_config()
    convolutions = [layer for layer in network["layers"] if layer["class_name"].endswith("ComplexConv2D")]
    if not convolutions:
        raise ValueError(f"model {model.name!r} has no complex convolutions: fourier_padding does not apply")
    for layer in convolutions:
        layer["config"]["padding"] = _COMPLEX_PADDING[fourier_padding]
    rebuilt = keras.Model.from_config(network)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def model_config(scale):
    """Builder options of a scale preset: input size and network size.

    Parameters
    ----------
    scale : str or fcunet_lib.config.Scale
        Scale name (``"smoke"``, ``"default"``, ``"full"``, ``"paper"``).

    Returns
    -------
    dict
        ``input_size``, ``base_filters``, ``levels``, ``convs_per_block``,
        ``dropout``, ``output_activation``; pass it to :func:`build_model` as ``**config``.
    """
    from fcunet_lib.config import get_scale

    preset = get_scale(scale)
    training = preset.training
    return {
        "input_size": preset.simulation.pattern_size,
        "base_filters": training.base_filters,
        "levels": training.levels,
        "convs_per_block": training.convs_per_block,
        "dropout": training.dropout,
        "output_activation": training.output_activation,
    }


# --------------------------------------------------------------------------- #
# The shared skeleton and its parts
# --------------------------------------------------------------------------- #
def _unet_skeleton(x, widths, *, convs_per_block, dropout, conv, activation, pool, concat):
    """U-Net body: len(widths) - 1 pooled levels and a bottleneck.

    ``conv(width, name)``, ``activation(name)``, ``pool(name)`` and
    ``concat(name)`` make the layers, so the same code builds the real and the
    complex networks.
    """
    block = dict(
        convs_per_block=convs_per_block, dropout=dropout, conv=conv, activation=activation
    )
    skips = []
    for level, width in enumerate(widths[:-1]):
        x = _block(x, width, name=f"enc{level}", **block)
        skips.append(x)
        x = pool(name=f"pool{level}")(x)
    x = _block(x, widths[-1], name="bottleneck", **block)
    for level in reversed(range(len(widths) - 1)):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}")(x)
        x = concat(name=f"skip{level}")([x, skips[level]])
        x = _block(x, widths[level], name=f"dec{level}", **block)
    return x


def _block(x, width, *, convs_per_block, dropout, conv, activation, name):
    for i in range(convs_per_block):
        x = conv(width, name=f"{name}_conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = activation(name=f"{name}_act{i}")(x)
        if dropout > 0:
            x = fl_layers.MCDropout(dropout, name=f"{name}_drop{i}")(x)
    return x


def _head(x, width, convs_per_block, output_activation):
    """Real head: one block without dropout, then the zero-initialised output conv.

    No dropout here: a mask right before the one-channel output puts noise on
    every pixel of a target that is almost everywhere zero. The output
    kernel starts at zero, so an untrained network predicts the empty image
    (which already scores well on a sparse target) and training only has to
    add the spots, instead of first unlearning a random O(1) image.
    """
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    x = _block(
        x,
        width,
        convs_per_block=convs_per_block,
        dropout=0.0,
        conv=_real_conv,
        activation=_relu,
        name="head",
    )
    # float32 even under a mixed-precision policy: the loss sees full precision.
    rectified = output_activation == "rectified"
    out = keras.layers.Conv2D(
        1,
        _KERNEL,
        padding="same",
        activation="linear" if rectified else output_activation,
        kernel_initializer="zeros",
        dtype="float32",
        name="structure_factor_linear" if rectified else "structure_factor",
    )(x)
    if rectified:
        out = fl_layers.RectifiedOutput(dtype="float32", name="structure_factor")(out)
    return out


def _inputs(input_size):
    shape = (input_size, input_size, 1)
    return keras.Input(shape, name="cbed"), keras.Input(shape, name="probe")


def _complex_widths(base_filters, levels, max_filters):
    return [min(base_filters * 2**level, max_filters) for level in range(levels + 1)]


def _real_widths(base_filters, levels, max_filters, factor):
    return [max(1, round(factor * w)) for w in _complex_widths(base_filters, levels, max_filters)]


def _real_conv(width, name):
    return keras.layers.Conv2D(width, _KERNEL, padding="same", use_bias=False, name=name)


#: ComplexConv2D padding of each ``fourier_padding``.
_COMPLEX_PADDING = {"zeros": "same", "circular": "circular"}


def _complex_conv(width, name, *, padding="same"):
    # No bias: the batch norm that follows has its own offset per channel.
    return fl_layers.ComplexConv2D(width, _KERNEL, padding=padding, use_bias=False, name=name)


def _relu(name):
    return keras.layers.ReLU(name=name)


def _crelu(name):
    return fl_layers.CReLU(name=name)


def _max_pool(name):
    return keras.layers.MaxPooling2D(2, name=name)


def _spectral_pool(name):
    return fl_layers.SpectralPooling2D(2, name=name)


def _real_concat(name):
    return keras.layers.Concatenate(name=name)


def _complex_concat(name):
    return fl_layers.ComplexConcatenate(name=name)


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}: expected one of {', '.join(choices)}")


def _check_config(input_size, base_filters, levels, convs_per_block, dropout, max_filters):
    if not _is_int(input_size) or input_size not in INPUT_SIZES:
        raise ValueError(
            f"input_size must be a power of two from 64 to 256 "
            f"({', '.join(map(str, INPUT_SIZES))}) [pixels]; got {input_size!r}"
        )
    for what, value in (
        ("base_filters", base_filters),
        ("levels", levels),
        ("convs_per_block", convs_per_block),
        ("max_filters", max_filters),
    ):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{what} must be a positive integer; got {value!r}")
    deepest = int(math.log2(input_size // _MIN_BOTTLENECK))
    if levels > deepest:
        raise ValueError(
            f"levels={levels} is too deep for input_size={input_size}: the bottleneck "
            f"would be {input_size / 2**levels:g} pixels wide (at least "
            f"{_MIN_BOTTLENECK} needed); use levels <= {deepest}"
        )
    if not isinstance(dropout, (int, float, np.floating)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1); got {dropout!r}")


def _check_width_factor(factor):
    if not isinstance(factor, (int, float, np.floating)) or not factor > 0:
        raise ValueError(f"real_width_factor must be a positive number; got {factor!r}")


# --------------------------------------------------------------------------- #
# Cost estimate
# --------------------------------------------------------------------------- #
def forward_flops(model):
    """Estimate the floating-point operations of one forward pass per pattern.

    Counts convolutions (a multiply-add is 2 FLOPs; a complex convolution
    costs what its real block kernel costs) and FFTs (5·n·log₂n per complex
    transform of n points); element-wise layers (batch norm, activations,
    pooling, dropout) are left out, they are a few percent at most.

    Parameters
    ----------
    model : keras.Model
        A built model whose layers are each called once (as the builders make).

    Returns
    -------
    float
        FLOPs per pattern.
    """
    return float(sum(_layer_flops(layer) for layer in _iter_layers(model)))


def _fft_flops(height, width):
    points = height * width
    return 5.0 * points * math.log2(points)


def _layer_flops(layer):
    if isinstance(layer, (keras.layers.Conv2D, fl_layers.ComplexConv2D)):
        _, height, width, out_channels = layer.output.shape
        in_channels = layer.input.shape[-1]
        kernel = (
            layer.kernel_size**2
            if isinstance(layer, fl_layers.ComplexConv2D)
            else math.prod(layer.kernel_size)
        )
        return 2.0 * kernel * in_channels * out_channels * height * width
    if isinstance(layer, fl_layers.FourierCorrelation):
        _, height, width, channels = layer.input[0].shape
        return 2 * channels * _fft_flops(height, width)
    if isinstance(layer, fl_layers.InverseFourier):
        _, height, width, channels = layer.output.shape
        return channels * _fft_flops(height, width)
    if isinstance(layer, fl_layers.SpectralPooling2D):
        _, height, width, channels = layer.input.shape
        _, out_h, out_w, _ = layer.output.shape
        return channels * (_fft_flops(height, width) + _fft_flops(out_h, out_w))
    return 0.0


# --------------------------------------------------------------------------- #
# Monte-Carlo dropout
# --------------------------------------------------------------------------- #
def _iter_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _iter_layers(layer)
        else:
            yield layer


def set_mc_dropout(model, enabled):
    """Switch Monte-Carlo dropout of every MCDropout layer of ``model``.

    Also drops the model's compiled predict function, so that the next
    ``model.predict`` traces again with the new setting (direct calls
    ``model(x)`` read it at every call).

    Parameters
    ----------
    model : keras.Model
        A model built by this module (or any model with MCDropout layers).
    enabled : bool
        True: dropout stays on at inference; False: deterministic inference.

    Returns
    -------
    int
        Number of MCDropout layers switched (0 if the model has no dropout).
    """
    switched = 0
    for layer in _iter_layers(model):
        if isinstance(layer, fl_layers.MCDropout):
            layer.mc_enabled = bool(enabled)
            switched += 1
    model.predict_function = None
    return switched


def seed_mc_dropout(model, seed=0):
    """Reset the mask generators of every MCDropout layer of ``model`` from ``seed``.

    A model loaded from disk draws fresh random generator states (Keras does
    not restore them), so without this the Monte-Carlo passes of two runs on
    the same data differ. Layer ``i`` gets the state ``[i, seed]``: distinct
    streams per layer, the same streams for the same seed.

    Parameters
    ----------
    model : keras.Model
        A model built by this module (or any model with MCDropout layers).
    seed : int
        Non-negative seed (below 2**32).

    Returns
    -------
    int
        Number of MCDropout layers reseeded.
    """
    if not _is_int(seed) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")
    dropouts = [layer for layer in _iter_layers(model) if isinstance(layer, fl_layers.MCDropout)]
    for index, layer in enumerate(dropouts):
        state = layer.seed_generator.state
        state.assign(np.array([index, seed], dtype=keras.backend.standardize_dtype(state.dtype)))
    return len(dropouts)


@contextlib.contextmanager
def mc_dropout(model, *, seed=0):
    """Context manager: Monte-Carlo dropout on inside, off again on exit.

    The mask generators are reseeded from ``seed`` on entry
    (:func:`seed_mc_dropout`), so the same passes give the same masks in
    every run.

    Examples
    --------
    >>> with mc_dropout(model, seed=0):                      # doctest: +SKIP
    ...     passes = [model.predict([cbed, probe]) for _ in range(10)]
    """
    seed_mc_dropout(model, seed)
    set_mc_dropout(model, True)
    try:
        yield model
    finally:
        set_mc_dropout(model, False)


def predict_mc(model, inputs, *, passes, batch_size=32, seed=0):
    """Average ``passes`` Monte-Carlo dropout predictions.

    Parameters
    ----------
    model : keras.Model
        A network from this module.
    inputs : list of ndarray
        ``[cbed, probe]``, each ``[B, N, N, 1]``.
    passes : int
        Number of stochastic forward passes (py4DSTEM's default is 5). With
        ``passes=1`` or a model without dropout the prediction is deterministic.
    batch_size : int
        Patterns per forward call.
    seed : int
        Seed of the dropout masks (:func:`seed_mc_dropout`).

    Returns
    -------
    mean, std : ndarray
        Mean and standard deviation over the passes, each ``[B, N, N, 1]``.

    Raises
    ------
    ValueError
        If ``passes`` or ``batch_size`` is not a positive integer.
    """
    if not _is_int(passes) or passes < 1:
        raise ValueError(f"passes must be a positive integer; got {passes!r}")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")

    def predict():
        # predict_on_batch per slice, not model.predict: Keras' autotuned tf.data pipeline for
        # arrays ends each call only when tf.data's autotuning thread next wakes
        # (see fcunet_lib.epoch_stream)
        n = len(inputs[0])
        return np.concatenate([np.asarray(model.predict_on_batch([x[start:start + batch_size]
                                                                  for x in inputs]))
                               for start in range(0, n, batch_size)])

    if passes == 1:
        prediction = predict()
        return prediction, np.zeros_like(prediction)
    with mc_dropout(model, seed=seed):
        stack = np.stack([predict() for _ in range(passes)])
    return stack.mean(axis=0), stack.std(axis=0)
