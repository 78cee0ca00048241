"""What the FCU-Net's periodic (circular) padding costs in training, and what its gradient saves.

    python benchmarks/periodic_padding.py [--scale default] [--batch 16] [--repeats 5] [--rounds 3]

The FCU-Net of the ``default`` scale wraps its Fourier-domain maps around
before each 'valid' convolution (``fcunet_lib.layers._wrap_hw``). Left to
automatic differentiation, the gradient of that concatenation of slices makes
a full-size zero map for each halo strip and sums three full-size tensors per
axis; ``fcunet_lib.layers._wrap_axis`` gives it a hand-written gradient that
adds the halo strips back onto the rows they came from, in one concatenation.
This script times one training step (``train_on_batch``, random data and
weights: speed does not depend on them) of three builds of the same network
in one run, in alternating rounds so the machine's drift falls on all alike:
circular padding with the hand-written gradient, circular padding
differentiated automatically (the earlier code), and zero padding (no wrap at
all). Writes ``benchmarks/results/periodic_padding.json``. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "periodic_padding.json"


def _autodiff_wrap_axis(x, before, after, axis):
    """The periodic padding without its hand-written gradient (the earlier code)."""
    from keras import ops

    from fcunet_lib import layers

    parts = [layers._take(x, slice(-before, None), axis)] if before else []
    parts += [x] + ([layers._take(x, slice(0, after), axis)] if after else [])
    return ops.concatenate(parts, axis=axis)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--batch", type=int, default=16, help="patterns per training step")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per build and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds over the builds")
    args = parser.parse_args(argv)
    if min(args.batch, args.repeats, args.rounds) < 1:
        raise SystemExit(f"--batch {args.batch}, --repeats {args.repeats}, --rounds {args.rounds}: "
                         "expected positive numbers")

    import keras

    from fcunet_lib import layers, model_store, models, training_run

    config = dict(training_run.network_options(args.scale, "fcunet"))
    n = config["input_size"]
    rng = np.random.default_rng(0)
    inputs = [rng.random((args.batch, n, n, 1), dtype=np.float32) for _ in range(2)]
    target = rng.random((args.batch, n, n, 1), dtype=np.float32)

    hand_written = layers._wrap_axis
    builds = {
        "circular_hand_written_gradient": ("circular", hand_written),
        "circular_automatic_gradient": ("circular", _autodiff_wrap_axis),
        "zeros": ("zeros", hand_written),
    }
    steps = {}
    for name, (padding, wrap_axis) in builds.items():
        layers._wrap_axis = wrap_axis  # read when the step is traced, below
        keras.utils.set_random_seed(0)
        model = models.build_model("fcunet", **{**config, "fourier_padding": padding})
        model.compile(optimizer="adam", loss="mse")
        model.train_on_batch(inputs, target)  # trace and warm up with this padding
        steps[name] = model
    layers._wrap_axis = hand_written

    seconds = {name: [] for name in builds}
    for round_ in range(args.rounds):
        order = list(builds) if round_ % 2 == 0 else list(builds)[::-1]
        for name in order:
            for _ in range(args.repeats):
                start = time.perf_counter()
                steps[name].train_on_batch(inputs, target)
                seconds[name].append(time.perf_counter() - start)
    best = {name: min(times) for name, times in seconds.items()}
    median = {name: float(np.median(times)) for name, times in seconds.items()}
    record = {
        "what": "one FCU-Net training step (train_on_batch) per padding build, best and median "
                "over alternating rounds; random data and untrained weights",
        "scale": args.scale, "architecture": config, "batch": args.batch,
        "machine": model_store.machine_description(),
        "step_s_best": best, "step_s_median": median,
        "samples_per_s_median": {name: args.batch / s for name, s in median.items()},
        "hand_written_gradient_saves_fraction":
            1.0 - median["circular_hand_written_gradient"] / median["circular_automatic_gradient"],
        "circular_cost_over_zeros_fraction": {
            "hand_written_gradient": median["circular_hand_written_gradient"] / median["zeros"] - 1.0,
            "automatic_gradient": median["circular_automatic_gradient"] / median["zeros"] - 1.0,
        },
        "step_s_all": seconds,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "step_s_all"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
