"""Inference and training speed of the three networks on this machine.

    python benchmarks/model.py [--scale default] [--repeats 3]

For each of ``unet``, ``spectral_unet``, ``fcunet``, built as the scale
trains it (:func:`fcunet_lib.training_run.network_options`, so the FCU-Net
with the scale's Fourier padding), and for the FCU-Net with the other padding
(``fcunet_other_padding``: what the padding costs), it measures inference
patterns/s (plain, XLA-compiled, and under a ``mixed_bfloat16`` policy) and
training samples/s (float32, XLA-compiled, and ``mixed_bfloat16``: what
``fcunet train``'s options would buy against the 45-minute budget), and relates the forward GFLOP/pattern to the machine's
measured dense 3×3 convolution rate. Untrained weights: speed does not depend
on them. Writes ``benchmarks/results/model.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "model.json"


def _best_seconds(function, repeats: int) -> float:
    function()  # warm-up: tracing, compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def dense_conv_gflops(repeats: int) -> float:
    """Measured rate of one large fp32 3×3 convolution [GFLOP/s]."""
    import tensorflow as tf

    x = tf.random.normal((8, 128, 128, 64))
    kernel = tf.random.normal((3, 3, 64, 64))
    conv = tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "SAME"))
    flops = 2 * 8 * 128 * 128 * 64 * 64 * 9
    return flops / _best_seconds(lambda: conv().numpy(), repeats) / 1e9


def measure_model(name: str, config: dict, *, batch: int, repeats: int) -> dict:
    import keras

    from fcunet_lib import models

    n = config["input_size"]
    rng = np.random.default_rng(0)
    inputs = [rng.random((batch, n, n, 1), dtype=np.float32) for _ in range(2)]
    target = rng.random((batch, n, n, 1), dtype=np.float32)
    result = {}
    model = models.build_model(name, **config)
    gflop = models.forward_flops(model) / 1e9
    result["parameters"] = int(model.count_params())
    result["gflop_per_pattern"] = gflop
    seconds = _best_seconds(lambda: model.predict_on_batch(inputs), repeats)
    result["inference_patterns_per_s"] = batch / seconds
    result["inference_gflops"] = gflop * batch / seconds
    compiled = keras.models.clone_model(model)
    compiled.compile(jit_compile=True)
    try:
        seconds = _best_seconds(lambda: compiled.predict_on_batch(inputs), repeats)
        result["inference_xla_patterns_per_s"] = batch / seconds
    except Exception as error:  # XLA may not support every op on CPU
        result["inference_xla_error"] = f"{type(error).__name__}: {error}"[:300]
    model.compile(optimizer="adam", loss="mse")
    seconds = _best_seconds(lambda: model.train_on_batch(inputs, target), repeats)
    result["training_samples_per_s"] = batch / seconds
    compiled.compile(optimizer="adam", loss="mse", jit_compile=True)
    try:
        seconds = _best_seconds(lambda: compiled.train_on_batch(inputs, target), repeats)
        result["training_xla_samples_per_s"] = batch / seconds
    except Exception as error:
        result["training_xla_error"] = f"{type(error).__name__}: {error}"[:300]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        bf16 = models.build_model(name, **config)
        seconds = _best_seconds(lambda: bf16.predict_on_batch(inputs), repeats)
        result["inference_bf16_patterns_per_s"] = batch / seconds
        bf16.compile(optimizer="adam", loss="mse")
        seconds = _best_seconds(lambda: bf16.train_on_batch(inputs, target), repeats)
        result["training_bf16_samples_per_s"] = batch / seconds
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--out", type=Path, default=OUT,
                        help="JSON to write (default: benchmarks/results/model.json)")
    args = parser.parse_args(argv)

    from fcunet_lib import model_store, models, training_run

    config = models.model_config(args.scale)
    shipped_padding = training_run.scale_fourier_padding(args.scale, "fcunet")
    other_padding = "zeros" if shipped_padding == "circular" else "circular"
    record = {"scale": args.scale, "config": config, "batch": args.batch,
              "fourier_padding": {"fcunet": shipped_padding, "fcunet_other_padding": other_padding},
              "weights": "untrained (speed only)",
              "machine": model_store.machine_description(),
              "dense_conv3x3_gflops": dense_conv_gflops(args.repeats), "models": {}}
    # every network as the scale trains it, and the FCU-Net with the other padding beside it
    variants = [(name, name, training_run.network_options(args.scale, name)) for name in models.MODEL_NAMES]
    variants.append(("fcunet_other_padding", "fcunet",
                     {**training_run.network_options(args.scale, "fcunet"), "fourier_padding": other_padding}))
    for label, name, options in variants:
        record["models"][label] = measure_model(name, options, batch=args.batch,
                                                repeats=args.repeats)
        rate = record["models"][label]["inference_gflops"]
        record["models"][label]["fraction_of_dense_conv_rate"] = rate / record["dense_conv3x3_gflops"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
