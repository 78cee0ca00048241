"""Score trained networks on the validation split: SSIM, spots, background and disks.

Usage::

    python tools/validation_scores.py models/fcunet.keras build/.../checkpoint-0004.keras \
        [--scale default] [--patterns 300] [--seed 0] [--out models/checks/validation_scores.json]

Answers "is this run better than the shipped model?" without looking at the
test split: each model (a shipped ``.keras`` with its card next to it, or a
run checkpoint with the run's ``state.json`` beside it) predicts the same
``--patterns`` validation patterns, chosen as notebook 06 chooses its
correlation-tuning subset (:func:`fcunet_lib.plots.disks.select_patterns`,
balanced over its categories), and gets

* SSIM on and off zone, spot recovery, direct beam and background, in units
  of each true image's maximum (``tools/compare_target_norms.py``'s
  :func:`prediction_summary`);
* the mean eq. (1) disk accuracy of :func:`fcunet_lib.find_disks_fcunet`
  (deterministic, no Monte-Carlo dropout), with and without the direct beam;
  and, once, that of py4DSTEM correlation with its default options (notebook
  06 tunes them; this is only a reference point).

Writes one JSON with a block per model. Nothing is shipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

#: Thinnest on-zone pattern counted as "thick" [nm] (notebook 06's parameter).
THICK_MIN_NM = 25.0


def load_scored_model(path: Path):
    """A model and the card or run state that says how its targets were scaled."""
    import keras

    from fcunet_lib import layers, model_store  # noqa: F401  (registers the custom layers)

    path = Path(path)
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        return model_store.load_model(path.stem, folder=path.parent), json.loads(card_path.read_text())
    state_path = path.parent / "state.json"
    if not state_path.is_file():
        raise SystemExit(f"{path}: expected a shipped model with its card ({card_path.name}) or a "
                         f"run checkpoint with {state_path.name} beside it")
    return keras.saving.load_model(path, compile=False), json.loads(state_path.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help=".keras files")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--patterns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "checks" / "validation_scores.json")
    args = parser.parse_args(argv)

    import fcunet_lib as fl
    import fcunet_lib.plots.disks
    from compare_target_norms import prediction_summary
    from fcunet_lib import evaluation, training_run

    pixel_size = fl.config.RECIPROCAL_PIXEL_SIZE
    folder, _, validation = training_run.load_training_splits(args.scale, seed=args.seed)
    truth_peaks, categories = fl.plots.disks.categorised_split(
        validation, pixel_size=pixel_size, thick_min_nm=THICK_MIN_NM)
    chosen = fl.plots.disks.select_patterns(categories, args.patterns, seed=args.seed)
    cbed = validation["cbed"][chosen].astype(np.float32)
    probes = validation["probe"][chosen].astype(np.float32)
    zones = np.asarray(validation["zone"])[chosen]
    targets = validation["target"][chosen].astype(np.float32)
    truth = [truth_peaks[i] for i in chosen]
    size = cbed.shape[-1]

    report = {"command": " ".join(["python tools/validation_scores.py", *map(str, args.models),
                                   f"--scale {args.scale} --patterns {args.patterns} --seed {args.seed}"]),
              "library_folder": Path(folder).name, "split": "validation",
              "patterns": int(len(chosen)), "units": "images in units of each true image's maximum",
              "models": {}}
    for path in args.models:
        start = time.perf_counter()
        model, card = load_scored_model(path)
        predicted = evaluation.predict_targets(model, cbed, probes, target_scale=card["target_scale"])
        relative, true_relative = evaluation.relative_to_truth(predicted, targets, card)
        summary = prediction_summary(relative, true_relative, zones)
        peaks = fl.plots.disks.find_peaks(cbed, probes, model=model, pixel_size=pixel_size)
        found = peaks["fcunet"]
        if "correlation_default_options" not in report:  # the baseline, once (no tuning here)
            report["correlation_default_options"] = {"disk_accuracy": float(np.mean(
                [fl.plots.disks.accuracy(f, t, pixel_size=pixel_size)
                 for f, t in zip(peaks["correlation"], truth)]))}
        plain = [fl.plots.disks.accuracy(f, t, pixel_size=pixel_size) for f, t in zip(found, truth)]
        diffracted = [fl.plots.disks.accuracy(
            fl.plots.disks.without_direct_beam(f, size, pixel_size=pixel_size),
            fl.plots.disks.without_direct_beam(t, size, pixel_size=pixel_size),
            pixel_size=pixel_size) for f, t in zip(found, truth)]
        report["models"][str(path)] = {
            "target_norm": evaluation.target_norm_of(card),
            "output_activation": training_run.output_activation_of(card),
            "epochs": card.get("epochs_done", card["options"]["epochs"]),  # run state or card
            **summary,
            "disk_accuracy": float(np.mean(plain)),
            "disk_accuracy_diffracted": float(np.mean(diffracted)),
            "peaks_per_pattern": float(np.mean([len(f) for f in found])),
            "seconds": time.perf_counter() - start,
        }
        print(path, json.dumps({k: report["models"][str(path)][k]
                                for k in ("ssim", "spot_recovery_median", "disk_accuracy",
                                          "disk_accuracy_diffracted")}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
