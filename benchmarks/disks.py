"""Disk-detection throughput and memory: FCU-Net path vs py4DSTEM correlation.

    .venv/bin/python benchmarks/disks.py               # -> benchmarks/results/disks.json
    .venv/bin/python benchmarks/disks.py --scan 4 4    # smaller

One synthetic 4D dataset (flat disks on an oblique lattice, Poisson noise,
the default scale's pattern size and pixel size) goes through, in the same
run:

* ``fcunet``: :func:`fcunet_lib.disks.find_disks_fcunet` end to end
  (resampling check, batched prediction, ``get_maxima_2D`` maxima and the
  default Gaussian sub-pixel fit) with the shipped default FCU-Net
  (``models/fcunet.keras``, sha256-checked by :func:`fcunet_lib.load_model`).
  The prediction alone is timed too.
* ``fcunet_symmetry_frames_<N>``: the same, averaging over the default
  scale's ``evaluation.symmetry_frames`` frames of every pattern (as
  notebooks 06–09 and ``fcunet strain`` run it; :mod:`fcunet_lib.symmetry`).
* ``correlation``: :func:`fcunet_lib.disks.find_disks_correlation` (sigmoid
  kernel, multicorr with the paper's 32× upsampling).

Each method is warmed up on one batch first (imports, graph tracing), then
timed over the whole scan. Memory: the tracemalloc peak of the timed run
(numpy and Python allocations; TensorFlow's own C++ buffers are not seen) and
the process's maximum resident set size (``resource.getrusage``) after it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("FCUNET_PROGRESS", "0")


def _dataset(scan, size, seed=0):
    from fcunet_lib import disks

    synthetic = disks.synthetic_lattice_scan(
        scan, size=size, g1=(12.0, 0.5), g2=(-0.3, 13.0), probe_radius=3.7, counts=200.0)
    rng = np.random.default_rng(seed)
    data = rng.poisson(synthetic.data).astype(np.float32)
    return data, synthetic.probe, synthetic.peaks


def _timed(function):
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _peaks_per_pattern(bv):
    counts = [len(bv.raw[i, j].data) for i in range(bv.Rshape[0]) for j in range(bv.Rshape[1])]
    return float(np.mean(counts))


def _mean_accuracy(bv, true, pixel_size):
    from fcunet_lib.metrics import intensity_weighted_accuracy

    scores = [intensity_weighted_accuracy(bv.raw[i, j].data, true[i, j], pixel_size=pixel_size)
              for i, j in np.ndindex(bv.Rshape)]
    return float(np.mean(scores))


def run(scan=(8, 8), batch_size=16, out=HERE / "results" / "disks.json"):
    import keras

    from fcunet_lib import disks, model_store
    from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE, get_scale
    from fcunet_lib.results import git_commit, package_versions

    load_at_start = os.getloadavg()[0]
    model = model_store.load_model("fcunet")
    card = model.card  # the card load_model checked the weights against
    size = card["architecture"]["input_size"]
    data, probe, true = _dataset(scan, size)
    n = data.shape[0] * data.shape[1]
    pixel = RECIPROCAL_PIXEL_SIZE

    fcunet = lambda d: disks.find_disks_fcunet(d, probe, model=model, pixel_size=pixel,  # noqa: E731
                                               batch_size=batch_size)
    frames = get_scale("default").evaluation.symmetry_frames
    averaged = lambda d: disks.find_disks_fcunet(d, probe, model=model, pixel_size=pixel,  # noqa: E731
                                                 batch_size=batch_size, symmetry_frames=frames)
    correlation = lambda d: disks.find_disks_correlation(d, probe, pixel_size=pixel,  # noqa: E731
                                                         batch_size=batch_size)
    results = {}
    for name, finder in (("fcunet", fcunet), (f"fcunet_symmetry_frames_{frames}", averaged),
                         ("correlation", correlation)):
        finder(data[:1, :2])  # warm-up: imports, tracing
        bv, seconds, traced_mb = _timed(lambda: finder(data))
        results[name] = {
            "seconds": round(seconds, 3),
            "patterns_per_s": round(n / seconds, 2),
            "peaks_per_pattern": round(_peaks_per_pattern(bv), 1),
            "tracemalloc_peak_mb": round(traced_mb, 1),
            "maxrss_mb_after": round(_maxrss_mb(), 1),
        }
        results[name]["mean_accuracy_eq1"] = round(_mean_accuracy(bv, true, pixel), 4)
        print(name, results[name], flush=True)

    flat = data.reshape(-1, size, size)
    batch = [flat[np.arange(batch_size) % n, ..., None], np.repeat(probe[None, ..., None], batch_size, axis=0)]
    model.predict_on_batch(batch)
    start = time.perf_counter()
    for _ in range(max(1, n // batch_size)):
        model.predict_on_batch(batch)
    per_pattern = (time.perf_counter() - start) / (max(1, n // batch_size) * batch_size)
    results["fcunet"]["prediction_only_patterns_per_s"] = round(1 / per_pattern, 2)

    report = {
        "what": "patterns/s of Bragg disk detection on one synthetic 4D dataset, both methods in one run",
        "dataset": {
            "scan": list(scan), "pattern_size": size, "pixel_size_inv_A": pixel,
            "lattice_px": [[12.0, 0.5], [-0.3, 13.0]], "probe_radius_px": 3.7,
            "noise": "Poisson, 200 counts/px in the direct beam",
        },
        "fcunet_model": {
            "name": "fcunet", "architecture": card["architecture"],
            "parameters": int(model.count_params()),
            "weights": f"shipped models/fcunet.keras, sha256 {card['sha256']}",
        },
        "options": {"batch_size": batch_size, "max_num_peaks": disks.MAX_NUM_PEAKS,
                    "fcunet_subpixel": "gaussian (3x3 log-parabola)",
                    "correlation_subpixel": f"multicorr, upsample {disks.UPSAMPLE_FACTOR}",
                    "correlation_kernel": "sigmoid, radii (1, 4) probe radii"},
        "results": results,
        "memory_note": "tracemalloc sees numpy/Python allocations, not TensorFlow's C++ buffers; "
                       "maxrss is the whole process (TensorFlow included)",
        "environment": {
            "processor": _cpu_model(), "cpu_count": os.cpu_count(),
            "load_average_1min": {"start": load_at_start, "end": os.getloadavg()[0]},
            "python": platform.python_version(),
            "keras_backend": keras.backend.backend(),
        },
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)
    return report


def _cpu_model() -> str:
    from fcunet_lib import model_store

    return model_store.cpu_description().get("cpu_model") or platform.processor()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, nargs=2, default=(8, 8), metavar=("RX", "RY"))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "disks.json")
    args = parser.parse_args(argv)
    run(tuple(args.scan), batch_size=args.batch_size, out=args.out)


if __name__ == "__main__":
    main()
