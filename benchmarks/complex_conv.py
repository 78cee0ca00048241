"""The complex convolution as one block-kernel convolution against Gauss's three, on this machine.

    python benchmarks/complex_conv.py [--batch 16] [--repeats 7]

:class:`fcunet_lib.layers.ComplexConv2D` runs ``x ⋆ K`` for complex ``x``
and ``K`` as one real convolution of ``2·C_in → 2·F`` channels with the block
kernel ``[[K_re, K_im], [−K_im, K_re]]``: the arithmetic of four real
convolutions of ``C_in → F``. Gauss's trick needs three::

    k1 = (x_re + x_im) ⋆ K_re,  k2 = x_re ⋆ (K_im − K_re),  k3 = x_im ⋆ (K_re + K_im)
    Re = k1 − k3,  Im = k1 + k2

a quarter fewer multiply-adds, but three smaller convolutions and extra
element-wise passes. This script times a training step's share of each (the
forward convolution and its gradient with respect to input and kernel) at
every convolution shape of the default FCU-Net (128 px, 8 complex filters
doubling over 5 levels), both forms in one run, and writes
``benchmarks/results/complex_conv.json``. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "complex_conv.json"


def block_form(x, k_re, k_im):
    """``x ⋆ K`` as one real convolution with the block kernel (what the layer runs)."""
    import tensorflow as tf

    kernel = tf.concat([tf.concat([k_re, k_im], -1), tf.concat([-k_im, k_re], -1)], -2)
    return tf.nn.conv2d(x, kernel, 1, "SAME")


def gauss_form(x, k_re, k_im):
    """``x ⋆ K`` as Gauss's three real convolutions."""
    import tensorflow as tf

    channels = x.shape[-1] // 2
    x_re, x_im = x[..., :channels], x[..., channels:]
    k1 = tf.nn.conv2d(x_re + x_im, k_re, 1, "SAME")
    k2 = tf.nn.conv2d(x_re, k_im - k_re, 1, "SAME")
    k3 = tf.nn.conv2d(x_im, k_re + k_im, 1, "SAME")
    return tf.concat([k1 - k3, k1 + k2], -1)


def fcunet_shapes(input_size=128, base_filters=8, levels=5):
    """``(size [px], complex input channels, complex filters)`` of each distinct convolution."""
    shapes = []
    for level in range(levels):
        size, width = input_size >> level, base_filters << level
        inputs = (width,) if level == 0 else (width, 2 * width)
        shapes += [(size, c_in, width) for c_in in inputs]
    return shapes


def _median_step_seconds(form, x, k_re, k_im, repeats):
    import tensorflow as tf

    @tf.function
    def step(x, k_re, k_im):
        with tf.GradientTape() as tape:
            tape.watch([x, k_re, k_im])
            y = form(x, k_re, k_im)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, k_re, k_im])

    step(x, k_re, k_im)  # tracing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(x, k_re, k_im)[0].numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.repeats < 1:
        raise SystemExit(f"--batch {args.batch}, --repeats {args.repeats}: expected positive numbers")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows = []
    for size, c_in, filters in fcunet_shapes():
        x = tf.constant(rng.normal(size=(args.batch, size, size, 2 * c_in)).astype(np.float32))
        k_re, k_im = (tf.constant(rng.normal(size=(3, 3, c_in, filters)).astype(np.float32))
                      for _ in range(2))
        reference = block_form(x, k_re, k_im)
        difference = float(tf.reduce_max(tf.abs(gauss_form(x, k_re, k_im) - reference))
                           / tf.reduce_max(tf.abs(reference)))
        row = {"size_px": size, "complex_in": c_in, "complex_filters": filters,
               "relative_difference": difference}
        # alternate the order per shape so drift of the machine's speed falls on both
        forms = [("block", block_form), ("gauss", gauss_form)]
        for name, form in (forms if len(rows) % 2 == 0 else forms[::-1]):
            row[f"{name}_step_s"] = _median_step_seconds(form, x, k_re, k_im, args.repeats)
        rows.append(row)
        print(row, flush=True)
    block_s = sum(r["block_step_s"] for r in rows)
    gauss_s = sum(r["gauss_step_s"] for r in rows)
    record = {"what": "forward + gradient of each default-FCU-Net complex convolution shape, "
                      "block-kernel form (fcunet_lib.layers.ComplexConv2D) against Gauss's three "
                      "convolutions; median of repeats",
              "batch": args.batch, "repeats": args.repeats, "cores": os.cpu_count(),
              "shapes": rows, "block_total_s": block_s, "gauss_total_s": gauss_s,
              "gauss_over_block": gauss_s / block_s}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "shapes"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
