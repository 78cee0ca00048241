"""Keras layers of the three networks of Table I, written once for any backend.

Every layer uses ``keras.ops`` only, so the models built from them run on
TensorFlow (the default), JAX and PyTorch alike.  Every layer is registered
for Keras 3 ``.keras`` saving under the package name ``"fcunet"``.

Complex feature maps: the ``[Re | Im]`` channel layout
------------------------------------------------------
Keras tensors are real.  A complex feature map with ``C`` channels is stored
as one real tensor of shape ``[B, H, W, 2C]`` whose first ``C`` channels hold
the real parts and whose last ``C`` channels hold the imaginary parts::

    z[..., k] = x[..., k] + 1j * x[..., C + k]        for k = 0 .. C-1

Every complex layer here reads and writes this layout: the Fourier layer
produces it, :class:`ComplexConv2D` consumes and produces it,
:class:`ComplexConcatenate` joins two such tensors keeping it, and
:class:`InverseFourier` consumes it.  Channel-wise real layers (batch norm,
ReLU, max pooling, nearest upsampling, dropout) act on the real and the
imaginary parts separately and so keep the layout as they are.

Normalisation of complex maps is plain ``BatchNormalization`` on the stacked
``[Re | Im]`` channels, as the authors did: real and imaginary parts are
centred and scaled independently, not whitened jointly (Trabelsi et al.'s
complex batch norm), which costs a 2×2 covariance per channel and gave the
authors no reason to use it.

Layers
------
FourierCorrelation
    (pattern, probe) → centred FFT of their cross-correlation, unit L2 norm.
ComplexConv2D
    Complex convolution (paper eq. 2–3) as one real convolution.
CReLU
    ReLU on real and imaginary parts separately.
ComplexConcatenate
    Skip concatenation that keeps real parts with real parts.
InverseFourier
    Centred inverse FFT of a complex map; real part.
SpectralPooling2D
    Downsampling by cropping the central frequencies (Rippel et al. 2015).
ImageNormalization
    Unit L2 norm per image and channel (the real networks' input step).
MCDropout
    Dropout that can stay on at inference (Monte-Carlo dropout).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "FourierCorrelation",
    "ComplexConv2D",
    "CReLU",
    "ComplexConcatenate",
    "InverseFourier",
    "SpectralPooling2D",
    "ImageNormalization",
    "MCDropout",
    "RectifiedOutput",
    "complex_glorot_uniform",
]

_PACKAGE = "fcunet"
# Floor of the divisors in the normalisations (a peak value, a sum of squares):
# an all-zero image stays zero instead of becoming NaN.
_TINY = 1e-30


# --------------------------------------------------------------------------- #
# Private helpers on [B, H, W, C] tensors
# --------------------------------------------------------------------------- #
def _split_complex(x):
    """Return the (real, imaginary) halves of a ``[Re | Im]`` tensor."""
    channels = x.shape[-1]
    half = channels // 2
    return x[..., :half], x[..., half:]


def _check_complex_channels(shape, layer):
    channels = shape[-1]
    if channels is None or channels % 2:
        raise ValueError(
            f"{layer} expects a complex feature map in the [Re | Im] channel "
            f"layout, i.e. an even, known number of channels; got shape {tuple(shape)}"
        )
    return channels // 2


def _check_spatial(shape, layer):
    height, width = shape[1], shape[2]
    if height is None or width is None:
        raise ValueError(
            f"{layer} needs known spatial dimensions [B, H, W, C]; got shape {tuple(shape)}"
        )
    return height, width


def _shift_hw(x, inverse=False):
    """``numpy.fft.fftshift`` (or ``ifftshift``) over axes 1 and 2."""
    height, width = x.shape[1], x.shape[2]
    if inverse:
        return ops.roll(x, (-(height // 2), -(width // 2)), axis=(1, 2))
    return ops.roll(x, (height // 2, width // 2), axis=(1, 2))


def _fft2_hw(real, imag=None, inverse=False):
    """2D (inverse) FFT over axes 1 and 2 of ``[B, H, W, C]`` tensors.

    ``keras.ops.fft2`` transforms the last two axes, so channels move to the
    front and back.  ``inverse`` includes the 1/(H·W) factor, like numpy.
    """
    if imag is None:
        imag = ops.zeros_like(real)
    to_first = (0, 3, 1, 2)
    to_last = (0, 2, 3, 1)
    pair = (ops.transpose(real, to_first), ops.transpose(imag, to_first))
    out_re, out_im = ops.ifft2(pair) if inverse else ops.fft2(pair)
    return ops.transpose(out_re, to_last), ops.transpose(out_im, to_last)


def _wrap_hw(x, kernel_size):
    """Pad axes 1 and 2 periodically so that a 'valid' convolution keeps the size.

    A kernel of size k needs ``(k − 1) // 2`` rows before and ``k // 2`` after
    (Keras' 'same' split): the last rows go in front, the first ones behind.
    """
    before, after = (kernel_size - 1) // 2, kernel_size // 2
    for axis in (1, 2):
        if before or after:
            x = _wrap_axis(x, before, after, axis)
    return x


def _wrap_axis(x, before, after, axis):
    """``[x[-before:], x, x[:after]]`` along ``axis``, with a one-pass gradient.

    Differentiating the concatenation of slices would make full-size zero
    maps for each halo strip and sum three full-size tensors; the gradient
    here is the upstream gradient's centre with the halo strips added onto
    the rows they were copied from, one concatenation (``benchmarks/model.py``
    measures what circular padding costs). Maps shorter than the halo along
    ``axis`` take the plain path.
    """
    n = x.shape[axis]
    if n is None or n < before + after:
        parts = [_take(x, slice(-before, None), axis)] if before else []
        parts += [x] + ([_take(x, slice(0, after), axis)] if after else [])
        return ops.concatenate(parts, axis=axis)

    @ops.custom_gradient
    def wrap(x):
        parts = [_take(x, slice(n - before, n), axis)] if before else []
        parts += [x] + ([_take(x, slice(0, after), axis)] if after else [])

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            g = upstream  # padded index p holds x[(p − before) mod n]
            first = _take(g, slice(before, before + after), axis)  # x[:after]
            middle = _take(g, slice(before + after, n), axis)  # x[after:n − before]
            last = _take(g, slice(n, n + before), axis)  # x[n − before:]
            pieces = []
            if after:
                pieces.append(first + _take(g, slice(n + before, n + before + after), axis))
            pieces.append(middle)
            if before:
                pieces.append(last + _take(g, slice(0, before), axis))
            return ops.concatenate(pieces, axis=axis)

        return ops.concatenate(parts, axis=axis), grad

    return wrap(x)


def _take(x, index, axis):
    return x[:, index] if axis == 1 else x[:, :, index]


def _unit_l2(x, axes=(1, 2)):
    """Scale ``x`` to unit L2 norm over ``axes``; an all-zero slice stays zero.

    Dividing by the largest magnitude first keeps the sum of squares inside
    float32 range for any input scale (counts of 1e6 per pixel or 1e-20).
    """
    peak = ops.max(ops.abs(x), axis=axes, keepdims=True)
    x = x / ops.maximum(peak, _TINY)
    return x * ops.rsqrt(ops.maximum(ops.sum(x * x, axis=axes, keepdims=True), _TINY))


class _Float32Layer(keras.layers.Layer):
    """Base of the FFT and normalisation layers: they compute in float32.

    FFTs have no bfloat16/float16 kernels, and a norm over N² pixels needs
    float32 anyway, so under a mixed-precision policy these layers keep
    float32 unless a ``dtype`` is given; the next layer casts their output.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)


def complex_glorot_uniform(seed=None):
    """Glorot-uniform initialiser for each of the real and imaginary kernels.

    Each part gets half the Glorot variance, so the equivalent real block
    kernel of :class:`ComplexConv2D` (fan-in 2·k²·C_in, fan-out 2·k²·C_out)
    is Glorot-initialised: Var(K_re) + Var(K_im) = 2 / (fan_in + fan_out) with
    fans counted in complex channels (Trabelsi et al. 2018).
    """
    return keras.initializers.VarianceScaling(
        scale=0.5, mode="fan_avg", distribution="uniform", seed=seed
    )


# --------------------------------------------------------------------------- #
# Fourier-space layers
# --------------------------------------------------------------------------- #
@keras.saving.register_keras_serializable(package=_PACKAGE)
class FourierCorrelation(_Float32Layer):
    """Centred Fourier transform of the cross-correlation of pattern and probe.

    For a diffraction pattern ``I`` and a vacuum-probe image ``P``, both
    ``[B, N, N, 1]`` and centred at pixel ``(N//2, N//2)``::

        C = fftshift( FFT2(ifftshift(I)) · conj(FFT2(ifftshift(P))) )
        C ← C / ||C||₂                  (per image and channel)

    and the output is ``[Re C | Im C]``, shape ``[B, N, N, 2]``.  The unit L2
    norm makes the output independent of the absolute intensity of pattern
    and probe (dose, probe current, detector gain).

    Inputs
    ------
    A list ``[pattern, probe]`` of real tensors ``[B, H, W, C]``; the probe
    may have 1 channel (shared) or C channels.  Output ``[B, H, W, 2C]``.
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                "FourierCorrelation expects two inputs [pattern, probe]; "
                f"got input shape {input_shape}"
            )
        pattern_shape, probe_shape = (tuple(s) for s in input_shape)
        _check_spatial(pattern_shape, "FourierCorrelation")
        if pattern_shape[1:3] != probe_shape[1:3] or probe_shape[-1] not in (
            1,
            pattern_shape[-1],
        ):
            raise ValueError(
                "FourierCorrelation expects a probe of the pattern's spatial shape "
                f"with 1 or the same number of channels; got pattern {pattern_shape} "
                f"and probe {probe_shape}"
            )

    def call(self, inputs):
        pattern, probe = inputs
        # Unit-normalising first keeps |C|² inside float32; it does not change
        # the result, which is normalised at the end anyway.
        a_re, a_im = _fft2_hw(_shift_hw(_unit_l2(pattern), inverse=True))
        p_re, p_im = _fft2_hw(_shift_hw(_unit_l2(probe), inverse=True))
        c_re = a_re * p_re + a_im * p_im
        c_im = a_im * p_re - a_re * p_im
        c_re, c_im = _shift_hw(c_re), _shift_hw(c_im)
        power = ops.sum(c_re * c_re + c_im * c_im, axis=(1, 2), keepdims=True)
        scale = ops.rsqrt(ops.maximum(power, _TINY))
        return ops.concatenate([c_re * scale, c_im * scale], axis=-1)

    def compute_output_shape(self, input_shape):
        pattern_shape = tuple(input_shape[0])
        channels = pattern_shape[-1]
        return pattern_shape[:-1] + (None if channels is None else 2 * channels,)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InverseFourier(_Float32Layer):
    """Centred inverse FFT of a complex map; returns the real part.

    Input ``[B, H, W, 2C]`` in the ``[Re | Im]`` layout holding centred
    spectra ``Z`` (zero frequency at ``(H//2, W//2)``, as produced by
    :class:`FourierCorrelation`); output ``[B, H, W, C]``::

        out = Re( fftshift( IFFT2( ifftshift(Z) ) ) )

    so that real space comes back centred too.  This is the exact inverse of
    the centring in :class:`FourierCorrelation`; for even sizes it is the
    same as the authors' fftshift → IFFT2 → ifftshift.  The IFFT includes the
    1/(H·W) factor (numpy's convention).
    """

    def build(self, input_shape):
        _check_complex_channels(input_shape, "InverseFourier")
        _check_spatial(input_shape, "InverseFourier")

    def call(self, inputs):
        z_re, z_im = _split_complex(inputs)
        z_re, z_im = _shift_hw(z_re, inverse=True), _shift_hw(z_im, inverse=True)
        out_re, _ = _fft2_hw(z_re, z_im, inverse=True)
        return _shift_hw(out_re)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // 2,)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SpectralPooling2D(_Float32Layer):
    """Downsample real feature maps by keeping their central frequencies.

    Rippel, Snoek & Adams (2015): per image and channel, FFT2 → keep the
    central ``H/f × W/f`` frequencies (those of an fftshifted spectrum,
    i.e. ``-M//2 … M - M//2 - 1``) → inverse FFT2 at the smaller size → real
    part, scaled by ``1/f²`` so that values keep their size.  A map whose
    content lies strictly below the new Nyquist frequency comes back exactly,
    sampled on the coarser grid (``x[::f, ::f]``); higher frequencies are
    removed instead of aliased as max pooling would.

    Parameters
    ----------
    pool_size : int
        Downsampling factor ``f`` along each spatial axis (default 2); the
        spatial sizes must be multiples of it.
    """

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        if int(pool_size) != pool_size or pool_size < 1:
            raise ValueError(f"pool_size must be a positive integer; got {pool_size!r}")
        self.pool_size = int(pool_size)

    def build(self, input_shape):
        height, width = _check_spatial(input_shape, "SpectralPooling2D")
        if height % self.pool_size or width % self.pool_size:
            raise ValueError(
                f"SpectralPooling2D(pool_size={self.pool_size}) needs spatial sizes "
                f"divisible by {self.pool_size}; got {height}×{width}"
            )

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        out_h, out_w = height // self.pool_size, width // self.pool_size
        spec_re, spec_im = _fft2_hw(inputs)
        spec_re = _keep_low_frequencies(spec_re, out_h, out_w)
        spec_im = _keep_low_frequencies(spec_im, out_h, out_w)
        out_re, _ = _fft2_hw(spec_re, spec_im, inverse=True)
        return out_re * (1.0 / self.pool_size**2)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, height // self.pool_size, width // self.pool_size, channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


def _keep_low_frequencies(spectrum, out_h, out_w):
    """Crop an unshifted spectrum [B, H, W, C] to its central out_h × out_w band.

    Same as fftshift → centred crop → ifftshift, without the shifts: keep the
    first ceil(M/2) (non-negative) and last floor(M/2) (negative) frequencies.
    """
    for axis, size in ((1, out_h), (2, out_w)):
        full = spectrum.shape[axis]
        positive, negative = size - size // 2, size // 2
        lead = (slice(None),) * axis
        parts = [spectrum[lead + (slice(0, positive),)]]
        if negative:
            parts.append(spectrum[lead + (slice(full - negative, full),)])
        spectrum = ops.concatenate(parts, axis=axis)
    return spectrum


# --------------------------------------------------------------------------- #
# Complex-valued network layers
# --------------------------------------------------------------------------- #
@keras.saving.register_keras_serializable(package=_PACKAGE)
class ComplexConv2D(keras.layers.Layer):
    """Complex 2D convolution (paper eq. 2–3) on ``[Re | Im]`` feature maps.

    With complex input ``x = x_re + i·x_im`` and complex kernel
    ``K = K_re + i·K_im``::

        Re out = x_re ⋆ K_re − x_im ⋆ K_im
        Im out = x_re ⋆ K_im + x_im ⋆ K_re

    (⋆ is Keras' convolution, a cross-correlation), plus an optional complex
    bias.  It runs as one real convolution with the block kernel
    ``[[K_re, K_im], [−K_im, K_re]]`` mapping ``2·C_in`` to ``2·filters``
    channels: one large convolution uses the CPU better than four small ones,
    or than Gauss's three (``benchmarks/complex_conv.py``: 1.25× slower in all).
    Parameters: ``2·k²·C_in·filters`` (+ ``2·filters`` bias); arithmetic is
    that of a real convolution of ``2·C_in → 2·filters`` channels.

    Parameters
    ----------
    filters : int
        Complex output channels (the output has ``2·filters`` real channels).
    kernel_size : int
        Square kernel size [pixels].
    padding : {"same", "valid", "circular"}
        Padding of the spatial axes: zeros (``"same"``), none, or the map
        wrapped around (``"circular"``), which is right for maps that are
        periodic, such as the discrete spectra of FCU-Net: zeros there put a
        step at the spectrum's edges, whose inverse FFT is a cross of
        streaks through the pattern's centre.
    use_bias : bool
        Add a learned complex bias (pointless right before batch norm).
    kernel_initializer
        Initialiser of each of ``K_re`` and ``K_im``; default
        :func:`complex_glorot_uniform`.
    bias_initializer
        Initialiser of the real and imaginary bias.
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        *,
        padding="same",
        use_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(filters) != filters or filters < 1:
            raise ValueError(f"filters must be a positive integer; got {filters!r}")
        if int(kernel_size) != kernel_size or kernel_size < 1:
            raise ValueError(f"kernel_size must be a positive integer; got {kernel_size!r}")
        if padding not in ("same", "valid", "circular"):
            raise ValueError(f"padding must be 'same', 'valid' or 'circular'; got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.padding = padding
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer if kernel_initializer is not None else complex_glorot_uniform()
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        in_channels = _check_complex_channels(input_shape, "ComplexConv2D")
        shape = (self.kernel_size, self.kernel_size, in_channels, self.filters)
        self.kernel_real = self.add_weight(
            name="kernel_real", shape=shape, initializer=self.kernel_initializer
        )
        self.kernel_imag = self.add_weight(
            name="kernel_imag", shape=shape, initializer=self.kernel_initializer
        )
        if self.use_bias:
            self.bias_real = self.add_weight(
                name="bias_real", shape=(self.filters,), initializer=self.bias_initializer
            )
            self.bias_imag = self.add_weight(
                name="bias_imag", shape=(self.filters,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        k_re, k_im = self.kernel_real, self.kernel_imag
        # Rows: input [Re | Im]; columns: output [Re | Im].
        from_real = ops.concatenate([k_re, k_im], axis=-1)
        from_imag = ops.concatenate([-k_im, k_re], axis=-1)
        kernel = ops.concatenate([from_real, from_imag], axis=-2)
        if self.padding == "circular":
            out = ops.conv(_wrap_hw(inputs, self.kernel_size), kernel, strides=1, padding="valid")
        else:
            out = ops.conv(inputs, kernel, strides=1, padding=self.padding)
        if self.use_bias:
            out = out + ops.concatenate([self.bias_real, self.bias_imag], axis=0)
        return out

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.padding == "valid":
            shrink = self.kernel_size - 1
            height = None if height is None else height - shrink
            width = None if width is None else width - shrink
        return (batch, height, width, 2 * self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "padding": self.padding,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CReLU(keras.layers.Layer):
    """ReLU applied to real and imaginary parts separately (CReLU).

    ``CReLU(z) = ReLU(Re z) + i·ReLU(Im z)`` (Trabelsi et al. 2018).  In the
    ``[Re | Im]`` layout this is an element-wise ReLU; the layer exists so
    that model summaries say which activation the complex blocks use.
    """

    def call(self, inputs):
        return ops.relu(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RectifiedOutput(keras.layers.Layer):
    """Non-negative output whose gradient does not die: ReLU forward, identity backward.

    Structure-factor images are non-negative and mostly exactly zero, so the
    network's last step clips negative values to zero: ``y = max(x, 0)``.
    A plain ReLU passes no gradient where ``x < 0`` — with the head's
    zero-initialised output kernel that is every pixel at the first step, so
    the network never starts. This layer passes the gradient straight
    through (``∂y/∂x = 1`` everywhere), written ``x + stop_gradient(relu(x) − x)``.

    With a squared-error loss and a non-negative target ``t`` that is exact
    where it matters: at a clipped pixel the loss gradient is ``−2t ≤ 0``,
    so a missing spot (``t > 0``) is pushed up through the clip, while empty
    background (``t = 0``) gets no gradient and may stay below zero, where
    the clip makes it exactly zero.
    """

    def call(self, inputs):
        return inputs + ops.stop_gradient(ops.relu(inputs) - inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ComplexConcatenate(keras.layers.Layer):
    """Concatenate complex feature maps channel-wise, keeping ``[Re | Im]``.

    ``[a_re | a_im]`` and ``[b_re | b_im]`` give ``[a_re, b_re | a_im, b_im]``:
    the complex channels of ``a`` followed by those of ``b``.  (A plain
    ``Concatenate`` gives ``[a_re, a_im, b_re, b_im]``, which the next complex
    layer would read as complex channels ``a_re + i·b_re``, … — the defect of
    the authors' skip connections.)
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise ValueError(
                f"ComplexConcatenate expects a list of at least two inputs; got {input_shape}"
            )
        for shape in input_shape:
            _check_complex_channels(shape, "ComplexConcatenate")

    def call(self, inputs):
        halves = [_split_complex(x) for x in inputs]
        real = [re for re, _ in halves]
        imag = [im for _, im in halves]
        return ops.concatenate(real + imag, axis=-1)

    def compute_output_shape(self, input_shape):
        channels = sum(shape[-1] for shape in input_shape)
        return tuple(input_shape[0][:-1]) + (channels,)


# --------------------------------------------------------------------------- #
# Real-valued helpers
# --------------------------------------------------------------------------- #
@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImageNormalization(_Float32Layer):
    """Scale each image and channel of ``[B, H, W, C]`` to unit L2 norm.

    The real networks' counterpart of the normalisation in
    :class:`FourierCorrelation`: their output does not depend on the absolute
    intensity of pattern or probe.  An all-zero image stays zero.
    """

    def call(self, inputs):
        return _unit_l2(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MCDropout(keras.layers.Layer):
    """Dropout that can stay on at inference: Monte-Carlo dropout.

    During training it is ordinary (inverted) dropout.  At inference it is the
    identity unless its ``mc_enabled`` attribute is true; then each call draws
    a new mask, and averaging several predictions gives the Monte-Carlo
    estimate (Gal & Ghahramani 2016), as the authors and py4DSTEM do.

    Switch all MCDropout layers of a model at once with
    :func:`fcunet_lib.models.mc_dropout` (a context manager) or
    :func:`fcunet_lib.models.set_mc_dropout`, or average passes with
    :func:`fcunet_lib.models.predict_mc`.  Do not call the model with
    ``training=True`` for MC passes: that would also switch batch
    normalisation to batch statistics.

    ``mc_enabled`` is a runtime switch, not part of the saved configuration:
    a loaded model starts with it off.

    Parameters
    ----------
    rate : float
        Fraction of units dropped, in [0, 1).
    seed : int, optional
        Seed of the mask generator, for reproducible MC passes.
    """

    def __init__(self, rate, *, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1); got {rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.mc_enabled = False
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if self.rate > 0.0 and (training or self.mc_enabled):
            return keras.random.dropout(inputs, self.rate, seed=self.seed_generator)
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
