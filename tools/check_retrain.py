"""Retrain a shipped model with its card's command and compare the results.

Usage::

    python tools/check_retrain.py fcunet [--scale default] [--seed 0] [--epochs N] [--jit-compile]
                                         [--mixed-precision mixed_bfloat16]

Trains the network from scratch in a scratch run folder
(``build/retrain/<run folder name>``, keyed like ``fcunet train``'s; resumable after a kill, like any run),
with the same scale preset, seed, library, target normalisation and output
activation as the card, scores it on the
validation split exactly as ``fcunet train`` does, and writes
``models/checks/retrain_<name>.json``: the card's and the retrained run's
per-epoch curves and validation SSIM, side by side with their differences.
Nothing is shipped; the shipped weights are not touched.

``--epochs N`` (fewer than the card's) is the quick check: it trains only the
first ``N`` epochs, in the same run folder (a later full check extends it),
and writes ``models/checks/retrain_<name>_first<N>.json`` with those epochs'
curves and seconds beside the card's; there is no final model to score, so
it has no validation SSIM.

``--jit-compile`` is the speed check: the same run compiled with XLA, in its
own run folder (suffix ``-xla``), written as ``retrain_<name>_xla[_first<N>].json``;
its ``options_differences`` name ``jit_compile``, and its curves differ from
the card's by XLA's other summation order. ``--mixed-precision POLICY`` alike
(suffix ``-bf16``, ``retrain_<name>_bf16[_first<N>].json``).

Both JSON files hold each epoch's wall time (``epoch_seconds``) beside the
card's total, for the training-time budget.

Training on CPU uses oneDNN kernels whose reductions are not guaranteed to
be bitwise reproducible, so "reproduces" means "within noise": the JSON
reports the differences and leaves the judgement to the reader.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from fcunet_lib.train import MIXED_PRECISION_POLICIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="train and compare only the first N epochs (default: the card's)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="train with XLA (the speed check; its own run folder and JSON)")
    parser.add_argument("--mixed-precision", choices=MIXED_PRECISION_POLICIES,
                        default=None, help="train under this Keras policy (the speed check; its "
                                           "own run folder and JSON)")
    args = parser.parse_args(argv)

    from fcunet_lib import config, evaluation, model_store, models, train, training_run
    from fcunet_lib.plots.training import check_same_plan

    cfg = config.get_scale(args.scale)
    shipped_folder = training_run.scale_models_dir(cfg.name)
    shipped = model_store.read_card(args.model, folder=shipped_folder)
    card_epochs = len(shipped["curves"]["loss"])
    partial = args.epochs is not None and args.epochs < card_epochs
    if args.epochs is not None and not 1 <= args.epochs <= card_epochs:
        raise SystemExit(f"--epochs {args.epochs}: expected 1 to the card's {card_epochs}")
    library_folder, train_data, validation = training_run.load_training_splits(
        cfg.name, seed=args.seed)
    try:  # the same crystal-system splits (a rebuild elsewhere may differ in its last bits)
        check_same_plan({args.model: shipped}, library_folder)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    # the card's own target normalisation, output, Fourier padding and correlation skip, which may
    # not be the scale's today
    options = training_run.train_options(cfg.name, seed=args.seed,
                                         epochs=args.epochs if partial else None,
                                         target_norm=evaluation.target_norm_of(shipped),
                                         jit_compile=args.jit_compile,
                                         mixed_precision=args.mixed_precision)
    network = training_run.architecture(
        cfg.name, output_activation=training_run.output_activation_of(shipped),
        fourier_padding=training_run.fourier_padding_of(shipped),
        correlation_skip=training_run.correlation_skip_of(shipped))
    run = (ROOT / "build" / "retrain"
           / training_run.run_folder(cfg.name, args.model, args.seed, library_folder, network,
                                     jit_compile=args.jit_compile,
                                     mixed_precision=args.mixed_precision).name)
    speed = {"jit_compile": args.jit_compile, "mixed_precision": args.mixed_precision}
    command = (f"python tools/check_retrain.py {args.model} --scale {cfg.name} --seed {args.seed}"
               + (f" --epochs {args.epochs}" if partial else "") + training_run.speed_flags(**speed))
    stem = "_".join([f"retrain_{args.model}", *training_run.speed_labels(**speed)])
    state = train.train(lambda: models.build_model(args.model, **network), train_data,
                        validation, run, options=options, verbose=2)
    if partial:
        comparison = _partial_comparison(args.model, command, shipped, state, run,
                                         epochs=args.epochs)
        return _write(f"{stem}_first{args.epochs}.json", comparison, "curves")
    _, card = training_run.score_run(run, state, name=args.model, scale=cfg.name,
                                     seed=args.seed, library_folder=library_folder,
                                     train_data=train_data, validation=validation,
                                     network=network)
    comparison = {
        "model": args.model,
        "command": command,
        "shipped_sha256": shipped["sha256"],
        "library_folder": {"shipped": shipped["library_folder"],
                           "retrained": card["library_folder"]},
        "library_hash": {"shipped": shipped["library_hash"], "retrained": card["library_hash"]},
        "options_differences": training_run.options_differences(card["options"], shipped["options"]),
        "training_seconds": {"shipped": shipped["training_seconds"],
                             "retrained": card["training_seconds"]},
        "epoch_seconds": {"shipped": shipped.get("epoch_seconds"),
                          "retrained": card.get("epoch_seconds")},
        "curves": _curves(shipped["curves"], card["curves"]),
        "validation_ssim": {zone: {"shipped": shipped["validation"]["ssim"][zone],
                                   "retrained": card["validation"]["ssim"][zone],
                                   "difference": card["validation"]["ssim"][zone]
                                   - shipped["validation"]["ssim"][zone]}
                            for zone in ("on_zone", "off_zone", "all")},
        "machine": card["machine"],
    }
    return _write(f"{stem}.json", comparison, "validation_ssim")


def _write(name: str, comparison: dict, shown: str) -> int:
    """Write ``models/checks/<name>``, print its ``shown`` entry and return the exit code 0."""
    out = ROOT / "models" / "checks" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(comparison, indent=1) + "\n")
    print(json.dumps(comparison[shown], indent=1))
    print(f"wrote {out}")
    return 0


def _curves(shipped: dict, retrained: dict) -> dict:
    """Per-epoch curves side by side, over the epochs both have."""
    return {key: {"shipped": shipped[key][:len(values)], "retrained": values,
                  "difference": [b - a for a, b in zip(shipped[key], values)]}
            for key, values in retrained.items()}


def _partial_comparison(name: str, command: str, shipped: dict, state: dict, run: Path, *,
                        epochs: int) -> dict:
    """The first ``epochs`` epochs of a retrain against the card's."""
    from fcunet_lib import model_store, training_run

    seconds_per_epoch = state["seconds"] / state["epochs_done"]
    return {
        "model": name,
        "command": command,
        "epochs_compared": epochs,
        "shipped_sha256": shipped["sha256"],
        "options_differences": {
            key: value for key, value in
            training_run.options_differences(state["options"], shipped["options"]).items()
            if key != "epochs"},
        "run_folder": str(run.relative_to(ROOT)),
        "training_seconds": {
            "shipped_whole_run": shipped["training_seconds"],
            "shipped_per_epoch": shipped["training_seconds"] / len(shipped["curves"]["loss"]),
            "retrained_per_epoch": seconds_per_epoch,
            "retrained_epochs": state.get("epoch_seconds")},
        "curves": _curves(shipped["curves"],
                          {key: values[:epochs] for key, values in state["history"].items()}),
        "machine": model_store.machine_description(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
