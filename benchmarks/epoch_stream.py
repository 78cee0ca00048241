"""One training epoch fed from arrays against one fed by the ``tf.data`` stream, on this machine.

    python benchmarks/epoch_stream.py [--scale default] [--network unet] [--patterns 480] [--repeats 3]
                                      [--feedings arrays stream stream_autotune] [--output FILE]

``fcunet train`` used to assemble each epoch whole with
:func:`fcunet_lib.train.make_epoch` (augmenting every pattern on one core
while the network waits) and then fit on the arrays; it now fits on
:func:`fcunet_lib.epoch_stream.epoch_dataset`, which augments in ``tf.data``
worker threads beside the training steps. Both give the same batches (tested
in ``tests/test_epoch_stream.py``); this script measures what the stream saves
in time, side by side in one run on one machine, because the difference is
smaller than the spread of epoch times between machines. A third feeding,
the stream with ``tf.data``'s autotuning (``epoch_dataset(autotune=True)``,
what training used before), shows the wait at each epoch's end that the
fixed worker count removes.

The split is synthetic (disks of the scale's size on random lattices; the
augmentation's cost does not depend on what the patterns show), the network
is built and trained with the scale's options and augmentation, and the
feedings alternate epoch by epoch on one model after a warm-up epoch of
each, so tracing and the machine's drift fall on both alike. Writes
``benchmarks/results/epoch_stream_NETWORK.json``. Run it alone: anything else on the
cores changes both numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: The ways of feeding an epoch that the script compares.
FEEDINGS = ("arrays", "stream", "stream_autotune")


def synthetic_split(n: int, size: int, *, seed: int = 0) -> dict:
    """A split of ``n`` disk patterns ``[size, size]`` with their spot targets.

    Parameters
    ----------
    n, size : int
        Patterns, and their side [pixels].
    seed : int
        Seed of the lattices and disk radii.

    Returns
    -------
    dict
        ``cbed``, ``probe``, ``target`` float32 ``[n, size, size]``, the keys
        :func:`fcunet_lib.train.make_epoch` reads.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - size // 2
    split = {key: np.zeros((n, size, size), np.float32) for key in ("cbed", "probe", "target")}
    for i in range(n):
        radius = rng.uniform(2.0, size / 12)
        split["probe"][i] = np.hypot(yy, xx) <= radius
        basis = rng.uniform(-1.0, 1.0, (2, 2)) * size / 6
        for a in range(-3, 4):
            for b in range(-3, 4):
                gy, gx = np.rint(a * basis[0] + b * basis[1]).astype(int)
                if abs(gy) >= size // 2 or abs(gx) >= size // 2:
                    continue
                weight = np.exp(-0.2 * (a * a + b * b))
                split["cbed"][i] += weight * np.roll(split["probe"][i], (gy, gx), axis=(0, 1))
                split["target"][i, size // 2 + gy, size // 2 + gx] += weight
    return split


def _timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--network", default="unet", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--patterns", type=int, default=480,
                        help="synthetic training patterns per epoch")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed epochs of each feeding, after one warm-up epoch of each")
    parser.add_argument("--feedings", nargs="+", default=list(FEEDINGS), choices=FEEDINGS,
                        help="which feedings to time (arrays is needed for the savings)")
    parser.add_argument("--output", type=Path, default=None,
                        help="result file (default benchmarks/results/epoch_stream_NETWORK.json)")
    args = parser.parse_args(argv)
    if args.patterns < 1 or args.repeats < 1:
        raise SystemExit(f"--patterns {args.patterns}, --repeats {args.repeats}: "
                         "expected positive numbers")

    import keras

    from fcunet_lib import epoch_stream, model_store, models, train, training_run

    options = training_run.train_options(args.scale, epochs=1)
    network = training_run.network_options(args.scale, args.network)
    data = synthetic_split(args.patterns, network["input_size"])
    keras.utils.set_random_seed(0)
    model = train._compile(models.build_model(args.network, **network), options)
    common = dict(seed=options.seed, settings=options.augment, target_norm=options.target_norm)

    def from_arrays(epoch):
        (inputs, target), assembly = _timed(lambda: train.make_epoch(data, epoch=epoch, **common))
        _, fitting = _timed(lambda: model.fit(inputs, target, batch_size=options.batch_size,
                                              shuffle=False, verbose=0))
        return {"epoch": epoch, "assembly_s": assembly, "fit_s": fitting,
                "total_s": assembly + fitting}

    def from_stream(epoch, autotune=False):
        batches = epoch_stream.epoch_dataset(data, epoch=epoch, batch_size=options.batch_size,
                                             autotune=autotune, **common)
        _, fitting = _timed(lambda: model.fit(batches, shuffle=False, verbose=0))
        return {"epoch": epoch, "total_s": fitting}

    def stream_alone(epoch):
        batches = epoch_stream.epoch_dataset(data, epoch=epoch, batch_size=options.batch_size,
                                             **common)
        _, seconds = _timed(lambda: sum(1 for _ in batches))
        return seconds

    feedings = {"arrays": from_arrays, "stream": from_stream,
                "stream_autotune": lambda epoch: from_stream(epoch, autotune=True)}
    feedings = {name: feed for name, feed in feedings.items() if name in args.feedings}
    warm_up = {name: feed(epoch) for epoch, (name, feed) in enumerate(feedings.items())}
    timed = {name: [] for name in feedings}
    epoch = len(feedings)
    for repeat in range(args.repeats):
        # alternate which feeding goes first, so drift of the machine's speed falls on both
        names = list(feedings)
        for name in (names if repeat % 2 == 0 else names[::-1]):
            timed[name].append(feedings[name](epoch))
            epoch += 1
    # medians: one epoch in a few runs twice as long when the machine stalls
    median_s = {name: float(np.median([r["total_s"] for r in runs])) for name, runs in timed.items()}
    minimum_s = {name: float(min(r["total_s"] for r in runs)) for name, runs in timed.items()}
    assembly_s = (float(np.mean([r["assembly_s"] for r in timed["arrays"]]))
                  if "arrays" in timed else None)
    record = {
        "what": "one training epoch of a synthetic split fed from make_epoch's arrays "
                "(assembled first, then fitted) against the tf.data stream (augmented beside "
                "the steps) with the fixed worker count and prefetch depth fcunet train uses "
                "(stream) and with tf.data's autotuning (stream_autotune); same model, same "
                "batches, epochs alternating",
        "data": "synthetic disk patterns (benchmarks/epoch_stream.py synthetic_split)",
        "scale": args.scale, "network": args.network, "architecture": network,
        "patterns_per_epoch": args.patterns,
        "options": options.to_dict(),
        "machine": model_store.machine_description(),
        "warm_up": warm_up, "epochs": timed,
        "epoch_s_median": median_s, "epoch_s_min": minimum_s,
        "saves_fraction_against_arrays": {name: 1.0 - seconds / median_s["arrays"]
                                          for name, seconds in median_s.items()
                                          if name != "arrays" and "arrays" in median_s},
        "stream_parallel_calls": epoch_stream.default_parallel_calls(),
        "arrays_assembly_s": assembly_s,
        "assembly_ms_per_pattern": (None if assembly_s is None
                                    else 1e3 * assembly_s / args.patterns),
        "stream_alone_s": stream_alone(epoch),
        "arrays_epoch_bytes": int(3 * data["cbed"].nbytes),
    }
    record["stream_alone_ms_per_pattern"] = 1e3 * record["stream_alone_s"] / args.patterns
    out = args.output or RESULTS / f"epoch_stream_{args.network}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in ("epochs", "warm_up")},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
