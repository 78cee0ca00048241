"""The ``fcunet`` command line.

Examples
--------
Rerun every notebook at the default scale and refresh ``figures/``::

    fcunet reproduce --scale default

Rerun one notebook with another parameter value::

    fcunet reproduce --scale smoke --only 01_materials -p seed=3

List the scale presets::

    fcunet scales

Build the simulation library of a scale (resumable; ``--dry-run`` prints its cost)::

    fcunet library --scale default

Train and ship one network (resumable)::

    fcunet train --scale default --model fcunet

Search hyper-parameters over the authors' ranges (needs ``pip install '.[tune]'``)::

    fcunet tune --scale smoke --model fcunet --samples 2 --epochs 1

Strain maps of your own 4D-STEM file (py4DSTEM-readable .h5 and a PNG overview)::

    fcunet strain scan.dm4 --probe vacuum.npy --pixel-size 0.0217 --method correlation \
        --reference 0:10,0:10 --out results/scan
"""

from __future__ import annotations

import argparse
import json
import sys

from . import config, strain_cli

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``fcunet`` command."""
    from .train import MIXED_PRECISION_POLICIES

    parser = argparse.ArgumentParser(
        prog="fcunet", description="FCU-Net companion: reproduce the paper's figures.")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="run the notebooks with papermill")
    rep.add_argument("--scale", default="default", choices=config.SCALE_NAMES,
                     help="scale preset (default: %(default)s)")
    rep.add_argument("--only", action="append", metavar="NAME",
                     help="notebook number, stem or name; repeatable (default: all)")
    rep.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                     help="papermill parameter (Python literal or string); repeatable")
    rep.add_argument("--output", metavar="DIR",
                     help="folder for executed notebooks (default: build/<scale>/notebooks)")
    rep.add_argument("--prepare-only", action="store_true",
                     help="inject parameters without executing (for nbval)")
    rep.add_argument("--quiet", action="store_true", help="no per-cell progress bar")

    scales = sub.add_parser("scales", help="print the scale presets as JSON")
    scales.add_argument("name", nargs="?", help="one preset (default: all)")

    sub.add_parser("notebooks", help="list the notebooks and their parameters")

    lib = sub.add_parser("library", help="build or resume the simulation library of a scale")
    lib.add_argument("--scale", default="default", choices=config.SCALE_NAMES)
    lib.add_argument("--seed", type=int, default=0)
    lib.add_argument("--dry-run", action="store_true",
                     help="only plan: print jobs, patterns, storage and estimated hours")
    lib.add_argument("--scheduler", metavar="ADDRESS",
                     help="dask.distributed scheduler address (default: local cluster)")
    lib.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    lib.add_argument("--other-energies", type=float, nargs="+", metavar="KV",
                     help="multi-energy library: each orientation at one of the scale's beam energy "
                          "and these [kV] (its own folder)")

    tr = sub.add_parser("train", help="train a network on the scale's library and ship it")
    tr.add_argument("--scale", default="default", choices=config.SCALE_NAMES)
    tr.add_argument("--model", required=True, choices=("unet", "spectral_unet", "fcunet"))
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--epochs", type=int, default=None,
                    help="epochs (default: the scale's); more than a finished run's extends it")
    tr.add_argument("--target-norm", choices=("global", "pattern_max"), default=None,
                    help="target normalisation (default: the scale's)")
    tr.add_argument("--output-activation", choices=("linear", "rectified", "relu", "softplus"),
                    default=None, help="the networks' last step (default: the scale's)")
    tr.add_argument("--fourier-padding", choices=("zeros", "circular"), default=None,
                    help="FCU-Net only: padding of its Fourier-domain convolutions (default: the scale's)")
    tr.add_argument("--correlation-skip", action=argparse.BooleanOptionalAction, default=None,
                    help="FCU-Net only: hand the head the pattern-probe cross-correlation map too "
                         "(default: the scale's)")
    tr.add_argument("--jit-compile", action="store_true",
                    help="compile the training steps with XLA (faster on CPU; not bitwise the "
                         "weights of a run without it; its own run folder)")
    tr.add_argument("--mixed-precision", choices=MIXED_PRECISION_POLICIES, default=None,
                    help="train under this Keras mixed-precision policy (bf16 is faster on CPUs "
                         "with bf16 units, e.g. AMX; its own run folder)")
    tr.add_argument("--other-energies", type=float, nargs="+", metavar="KV",
                    help="train on the scale's multi-energy library (each orientation at one of the "
                         "scale's beam energy and these [kV]; built if missing)")
    tr.add_argument("--models-dir", metavar="DIR",
                    help="ship the model here (default: the scale's models folder; for "
                         "--other-energies data/<scale>/models-<library folder>)")
    tr.add_argument("--verbose", type=int, default=2, help="Keras verbosity (default 2)")

    tu = sub.add_parser("tune", help="Ray Tune search over the authors' ranges (extra: tune)")
    tu.add_argument("--scale", default="smoke", choices=config.SCALE_NAMES,
                    help="scale preset (default: %(default)s)")
    tu.add_argument("--model", default="fcunet", choices=("unet", "spectral_unet", "fcunet"))
    tu.add_argument("--samples", type=int, required=True, help="trials")
    tu.add_argument("--epochs", type=int, required=True, help="epochs per trial")
    tu.add_argument("--max-t", type=int, help="ASHA's longest trial [epochs] (default --epochs)")
    tu.add_argument("--grace-period", type=int, help="ASHA grace period [epochs] (default 20)")
    tu.add_argument("--max-jobs", type=int, help="library jobs per split (smaller trials)")
    tu.add_argument("--seed", type=int, default=0)

    strain_cli.add_parser(sub)
    return parser


def _cmd_reproduce(args) -> int:
    from . import runner

    parameters = dict(runner.parse_parameter(text) for text in args.parameter)
    if "scale" in parameters:
        raise ValueError("set the scale with --scale, not -p scale=...")
    runner.reproduce(scale=args.scale, only=args.only, parameters=parameters,
                     output_dir=args.output, prepare_only=args.prepare_only,
                     progress=not args.quiet)
    return 0


def _cmd_scales(args) -> int:
    names = [args.name] if args.name else list(config.SCALE_NAMES)
    print(json.dumps({n: config.get_scale(n).to_dict() for n in names}, indent=2))
    return 0


def _cmd_notebooks(args) -> int:
    from . import runner

    for source in runner.list_notebooks():
        declared = runner.notebook_parameters(source)
        described = ", ".join(f"{k}={v['default']}" for k, v in declared.items())
        print(f"{source.stem}: {described}")
    return 0


def _cmd_library(args) -> int:
    from .library_plan import ensure_library

    summary = ensure_library(args.scale, seed=args.seed, scheduler=args.scheduler,
                             workers=args.workers, dry_run=args.dry_run,
                             other_energies_kv=args.other_energies)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _cmd_train(args) -> int:
    from .training_run import train_and_ship

    card = train_and_ship(args.scale, args.model, seed=args.seed, verbose=args.verbose,
                          epochs=args.epochs, target_norm=args.target_norm,
                          output_activation=args.output_activation,
                          fourier_padding=args.fourier_padding,
                          correlation_skip=args.correlation_skip, jit_compile=args.jit_compile,
                          mixed_precision=args.mixed_precision,
                          other_energies_kv=args.other_energies, models_dir=args.models_dir)
    print(json.dumps({k: card[k] for k in ("name", "sha256", "validation", "training_seconds")
                      if k in card}, indent=2))
    return 0


def _cmd_tune(args) -> int:
    from .tune import run_search

    found = run_search(args.scale, args.model, num_samples=args.samples,
                       epochs_per_trial=args.epochs, max_t=args.max_t,
                       grace_period=args.grace_period, seed=args.seed, max_jobs=args.max_jobs)
    print(json.dumps({"best_config": found.best_config, "best_val_mae": found.best_val_mae,
                      "best_run_folder": found.best_run_folder, "searcher": found.searcher,
                      "trials": found.trials}, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fcunet`` console script; returns the exit code."""
    from . import runner

    args = build_parser().parse_args(argv)
    commands = {"reproduce": _cmd_reproduce, "scales": _cmd_scales,
                "notebooks": _cmd_notebooks, "library": _cmd_library, "train": _cmd_train,
                "tune": _cmd_tune, "strain": strain_cli.run}
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, runner.NotebookFailed) as error:
        print(f"fcunet {args.command}: error: {error}", file=sys.stderr)
        return 2 if not isinstance(error, runner.NotebookFailed) else 1


if __name__ == "__main__":
    sys.exit(main())
