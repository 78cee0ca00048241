"""Train a network past its scale's epoch budget and score every epoch.

Usage::

    python tools/learning_curve.py fcunet --epochs 12 [--scale default] [--seed 0]

Answers "would more training help?" with numbers. The run starts from a copy
of the shipped model's finished run (``data/<scale>/runs/...``, so its first
epochs are not trained again) in the scratch folder
``build/learning_curve/<name>-seed<seed>``, and extends it one epoch at a
time (:func:`fcunet_lib.train.train` extends a finished run exactly as if the
longer run had been asked for from the start). After every epoch the
checkpoint is scored on the whole validation split (SSIM on and off zone, as
on the model cards) and ``models/checks/learning_curve_<name>.json`` is
rewritten, so a killed run resumes where it stopped and loses at most the
epoch in progress. Nothing is shipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--epochs", type=int, required=True, help="total epochs to reach")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    from fcunet_lib import config, evaluation, models, train, training_run

    cfg = config.get_scale(args.scale)
    library_folder, train_data, validation = training_run.load_training_splits(
        cfg.name, seed=args.seed)
    run = ROOT / "build" / "learning_curve" / f"{args.model}-seed{args.seed}"
    architecture = training_run.network_options(cfg.name, args.model)
    shipped_run = training_run.run_folder(cfg.name, args.model, args.seed, library_folder,
                                          architecture)
    started_from = "scratch"
    if not (run / "state.json").is_file() and (shipped_run / "state.json").is_file():
        shutil.copytree(shipped_run, run, dirs_exist_ok=True)
        started_from = str(shipped_run.relative_to(ROOT))
    out = ROOT / "models" / "checks" / f"learning_curve_{args.model}.json"
    record = json.loads(out.read_text()) if out.is_file() else {
        "model": args.model, "scale": cfg.name, "seed": args.seed, "started_from": started_from,
        "command": f"python tools/learning_curve.py {args.model} --epochs {args.epochs} "
                   f"--scale {cfg.name} --seed {args.seed}",
        "library_folder": Path(library_folder).name, "epochs": []}
    record["command"] = (f"python tools/learning_curve.py {args.model} --epochs {args.epochs} "
                         f"--scale {cfg.name} --seed {args.seed}")
    options = training_run.train_options(cfg.name, seed=args.seed, epochs=args.epochs)
    scored = {entry["epoch"] for entry in record["epochs"]}

    def build():
        return models.build_model(args.model, **architecture)

    if (run / "state.json").is_file():
        state = json.loads((run / "state.json").read_text())
    else:
        state = train.train(build, train_data, validation, run, options=options, stop_after_epoch=0,
                            verbose=2)
    while True:
        done = state["epochs_done"]
        if done not in scored:
            model = keras.saving.load_model(run / state["checkpoint"], compile=False)
            start = time.perf_counter()
            predictions = evaluation.predict_targets(model, validation["cbed"], validation["probe"],
                                                     target_scale=state["target_scale"])
            truth = evaluation.targets_like_model(validation["target"], state)
            ssim = evaluation.ssim_by_zone(predictions, truth, validation["zone"])
            record["epochs"].append({
                "epoch": done, "training_seconds": state["seconds"],
                "val_loss": state["history"]["val_loss"][-1],
                "val_mean_absolute_error": state["history"]["val_mean_absolute_error"][-1],
                "loss": state["history"]["loss"][-1], "validation_ssim": ssim,
                "scoring_seconds": time.perf_counter() - start})
            record["epochs"].sort(key=lambda entry: entry["epoch"])
            scored.add(done)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=1) + "\n")
            print(f"epoch {done}: val_loss {record['epochs'][-1]['val_loss']:.5f}, SSIM {ssim}", flush=True)
        if done >= args.epochs:
            break
        state = train.train(build, train_data, validation, run, options=options, stop_after_epoch=done,
                            verbose=2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
