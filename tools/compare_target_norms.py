"""Train one network with each target normalisation and score both the same way.

Usage::

    python tools/compare_target_norms.py fcunet --epochs 1 [--scale default] [--seed 0]

Answers "does dividing each target by its own maximum (``target_norm="pattern_max"``)
train better than one global factor (``"global"``, the shipped models')?" with
numbers. Both runs use the scale's training options (loss, batch size,
schedule, augmentation, seed) and differ only in ``target_norm``; each lives
in a resumable scratch folder ``build/target_norms/<name>-<norm>-<scale>-seed<seed>``.
Both are scored on the whole validation split, in units of each true image's
maximum (:func:`fcunet_lib.evaluation.relative_to_truth`):

* SSIM on and off zone (as on the model cards);
* ``spot_recovery``: median over patterns of predicted / true height at the
  brightest diffracted spot (the direct beam excluded);
* ``direct_beam``: median predicted height at the true direct beam (true: 1);
* ``background``: mean and standard deviation of the prediction where the
  truth is below 1e-3 of its maximum (the haze that SSIM penalises).

Writes ``models/checks/target_norms_<name>.json`` (``..._<scale>.json`` for
scales other than ``default``). Nothing is shipped.
Evaluate only runs of a few hundred steps or more: batch-norm moving averages
(momentum 0.99) lag the batch statistics for the first hundreds of steps, so
an inference-mode score of a shorter run says little about what it learned.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prediction_summary(predictions, truths, zones) -> dict:
    """SSIM by zone, spot recovery, direct beam and background of relative images."""
    from fcunet_lib import evaluation

    n = truths.shape[-1]
    centre = n // 2
    rows, cols = np.mgrid[:n, :n]
    off_centre = (rows - centre) ** 2 + (cols - centre) ** 2 > 9
    spot = []
    for pred, true in zip(predictions, truths):
        i, j = np.unravel_index(np.argmax(np.where(off_centre, true, 0.0)), true.shape)
        spot.append(pred[i, j] / max(float(true[i, j]), 1e-12))
    background = truths < 1e-3
    return {"ssim": evaluation.ssim_by_zone(predictions, truths, zones),
            "spot_recovery_median": float(np.median(spot)),
            "direct_beam_median": float(np.median(predictions[:, centre, centre])),
            "background": {"mean": float(predictions[background].mean()),
                           "std": float(predictions[background].std())}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    from fcunet_lib import config, evaluation, library, models, train, training_run

    cfg = config.get_scale(args.scale)
    folder, train_data, validation = training_run.load_training_splits(cfg.name, seed=args.seed)
    # the network the committed check was measured with (zero Fourier padding); its run folders
    # in build/target_norms are not keyed by the architecture
    architecture = models.model_config(cfg.name)
    base = training_run.train_options(cfg.name, seed=args.seed, epochs=args.epochs)
    record = {"model": args.model, "scale": cfg.name, "seed": args.seed, "epochs": args.epochs,
              "command": f"python tools/compare_target_norms.py {args.model} --epochs "
                         f"{args.epochs} --scale {cfg.name} --seed {args.seed}",
              "library_folder": Path(folder).name, "split_digest": library.split_digest(folder),
              "units": "images in units of each true image's maximum", "runs": {}}
    zero = np.zeros(validation["target"].shape, np.float32)
    truths = train.normalise_targets(validation["target"], "pattern_max")
    record["zero_prediction"] = prediction_summary(zero, truths, validation["zone"])
    for norm in train.TARGET_NORMS:
        options = dataclasses.replace(base, target_norm=norm)
        run = ROOT / "build" / "target_norms" / f"{args.model}-{norm}-{cfg.name}-seed{args.seed}"
        state = train.train(lambda: models.build_model(args.model, **architecture), train_data,
                            validation, run, options=options, verbose=2)
        model = keras.saving.load_model(run / state["checkpoint"], compile=False)
        predicted = evaluation.predict_targets(model, validation["cbed"], validation["probe"],
                                               target_scale=state["target_scale"])
        relative, _ = evaluation.relative_to_truth(predicted, validation["target"], state)
        record["runs"][norm] = {
            **prediction_summary(relative, truths, validation["zone"]),
            "training_seconds": state["seconds"], "history": state["history"]}
        print(norm, json.dumps(record["runs"][norm]["ssim"]), flush=True)
    suffix = "" if cfg.name == "default" else f"_{cfg.name}"
    out = ROOT / "models" / "checks" / f"target_norms_{args.model}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
