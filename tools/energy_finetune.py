"""Does a library over several beam energies remove FCU-Net's 80 kV bias? A fine-tuning check.

Usage::

    python tools/energy_finetune.py fcunet --scale default --energies 80 200 \
        --train-jobs 150 --validation-jobs 36 --epochs 3 --seed 0 \
        [--out models/checks/energy_finetune_fcunet.json]

The shipped networks were trained on a 300 kV library only, and on the 80 kV
h-BN stand-in of Fig. 4 FCU-Net pulls the outer spots inwards by 4-6 % of |g|
while at 300 kV, with disks of the same size, it does not
(``tools/radial_bias.py``, ``models/checks/radial_bias_energy_300kv.json``).
Retraining on a multi-energy library (``SimulationSettings.other_energies_kv``)
is the remedy to test; a full retrain does not fit beside a library rebuild in
one session on two cores, so this tool asks the cheaper question first:

1. plan the scale's library with ``other_energies_kv`` (each orientation at
   one energy drawn from the scale's and these), keep every k-th job of the
   train and validation splits (``--train-jobs``, ``--validation-jobs``),
   leaving out the named materials of Figs. 3-5 (h-BN is in the scale's
   training split; here the check must be on a material it does not see at
   the new energies), and simulate them into their own library folder
   (``data/<scale>/energy-finetune-<digest>``; resumable);
2. fine-tune the shipped network on them with its card's recipe, the learning
   rate's peak lowered by ``--alpha`` (the Noam schedule restarts; the default
   puts its peak near the rate the shipped run ended with), in a run folder
   under ``build/energy_finetune/`` (resumable after a kill, as any run);
3. score the shipped and the fine-tuned network on the held-out validation
   jobs, per beam energy: SSIM and the eq. (1) disk accuracy (with and without
   the direct beam).

The fine-tuned network is not shipped and its weights are not committed: run
``tools/radial_bias.py --extra-model NAME=PATH`` on its checkpoint for the
h-BN bias. Caveat: a fine-tune also trains longer; the per-energy scores show
whether the new energies, not only the extra steps, made the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from validation_scores import disk_scores, energies_of, scores_per_energy  # noqa: E402

#: Named materials of the figures, kept out of the fine-tuning set.
FIGURE_MATERIALS = ("named-h-BN", "named-Si", "named-Ge", "named-Si0.82Ge0.18")


def every_kth(jobs, count: int):
    """``count`` jobs spread evenly over ``jobs`` (all of them if fewer)."""
    if count >= len(jobs):
        return list(jobs)
    picks = np.linspace(0, len(jobs) - 1, count).round().astype(int)
    return [jobs[i] for i in picks]


def subset_plan(jobs, *, train_jobs: int, validation_jobs: int):
    """The fine-tuning plan: evenly spread train and validation jobs, re-indexed from 0."""
    usable = [job for job in jobs if job.material_id not in FIGURE_MATERIALS]
    chosen = (every_kth([j for j in usable if j.split == "train"], train_jobs)
              + every_kth([j for j in usable if j.split == "validation"], validation_jobs))
    return [dataclasses.replace(job, index=i) for i, job in enumerate(chosen)]


def scores_by_energy(model, card: dict, validation: dict, energies: np.ndarray, *, pixel_size: float) -> dict:
    """SSIM and eq. (1) accuracy of one network per beam energy of ``validation``."""
    import fcunet_lib as fl
    import fcunet_lib.plots.disks

    predictions = fl.evaluation.predict_targets(model, validation["cbed"], validation["probe"],
                                                target_scale=card.get("target_scale", 1.0))
    true_peaks = fl.plots.disks.true_peaks(validation["target"], validation["probe"], pixel_size=pixel_size)
    found = fl.plots.disks.network_peaks(validation["cbed"], validation["probe"], model=model,
                                         pixel_size=pixel_size)
    plain, diffracted = disk_scores(found, true_peaks, validation["cbed"].shape[-1], pixel_size)
    return scores_per_energy(predictions, validation["target"], card, np.asarray(validation["zone"]),
                             plain, diffracted, energies)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--energies", type=float, nargs="+", required=True,
                        help="beam energies [kV] beside the scale's own")
    parser.add_argument("--train-jobs", type=int, default=150)
    parser.add_argument("--validation-jobs", type=int, default=36)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=460.0,
                        help="Noam schedule alpha: peak rate (alpha·128)^-½·50^-½ (the card's 10 peaks at 3.95e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for name in ("train_jobs", "validation_jobs", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    import fcunet_lib as fl
    from fcunet_lib import config, library, library_plan, materials, model_store, simulate, train, training_run

    cfg = config.get_scale(args.scale)
    sim = dataclasses.replace(cfg.simulation, other_energies_kv=tuple(args.energies))
    table = materials.ensure_materials(cfg.materials, config.scale_data_dir(cfg.name) / "materials", seed=args.seed)
    jobs = subset_plan(library_plan.plan_library(table, sim, seed=args.seed),
                       train_jobs=args.train_jobs, validation_jobs=args.validation_jobs)
    setting = simulate.DEFAULT_SETTING
    metadata = {**library_plan.library_metadata(cfg.name, table, setting),
                "simulation_settings": library_plan.simulation_settings_record(sim),
                "subset": {"of": "the scale's plan with other_energies_kv", "train_jobs": args.train_jobs,
                           "validation_jobs": args.validation_jobs, "left_out": list(FIGURE_MATERIALS)}}
    folder = config.scale_data_dir(cfg.name) / f"energy-finetune-{library_plan.plan_digest(jobs, metadata)}"
    runner = library_plan.JobRunner({m.id: m.structure.as_dict() for m in table}, sim.pattern_size,
                                    dataclasses.asdict(setting))
    start = time.perf_counter()
    build = library.build_library(folder, jobs, runner, pattern_size=sim.pattern_size, metadata=metadata,
                                  workers=args.workers)
    simulation_seconds = time.perf_counter() - start
    train_data, validation = train.load_split(folder, "train"), train.load_split(folder, "validation")

    shipped = training_run.load_network(cfg.name, args.model)  # scored below; training gets its own copy
    card = shipped.card
    options = dataclasses.replace(
        training_run.train_options(cfg.name, seed=args.seed, target_norm=fl.evaluation.target_norm_of(card)),
        epochs=args.epochs, alpha=args.alpha)
    run = ROOT / "build" / "energy_finetune" / f"{args.model}-{folder.name}-a{args.alpha:g}-s{args.seed}"
    state = train.train(lambda: training_run.load_network(cfg.name, args.model),
                        train_data, validation, run, options=options, verbose=2)

    tuned = training_run.load_model_file(run / state["checkpoint"], network=args.model)
    pixel_size = config.RECIPROCAL_PIXEL_SIZE
    energies = energies_of(validation)
    command = (f"python tools/energy_finetune.py {args.model} --scale {cfg.name} --energies "
               f"{' '.join(f'{e:g}' for e in args.energies)} --train-jobs {args.train_jobs} "
               f"--validation-jobs {args.validation_jobs} --epochs {args.epochs} --alpha {args.alpha:g} "
               f"--seed {args.seed}")
    report = {
        "command": command,
        "shipped_sha256": card["sha256"],
        "library_folder": folder.name,
        "library_hash": library.library_hash(folder),
        "jobs": {"train": len(train_data["jobs"]), "validation": len(validation["jobs"])},
        "patterns": {"train": int(len(train_data["cbed"])), "validation": int(len(validation["cbed"]))},
        "train_patterns_by_energy_kv": {f"{e:g}": int(n) for e, n in zip(
            *np.unique(energies_of(train_data), return_counts=True))},
        "simulation": {**build, "seconds": simulation_seconds,
                       "what": "jobs simulated by this call ('ran') and its wall time [s]"},
        "options": json.loads(json.dumps(options.to_dict())),
        "run_folder": str(run.relative_to(ROOT)),
        "checkpoint": state["checkpoint"],
        "training_seconds": state["seconds"],
        "curves": state["history"],
        "validation_by_energy_kv": {
            "shipped": scores_by_energy(shipped, card, validation, energies, pixel_size=pixel_size),
            "fine_tuned": scores_by_energy(tuned, tuned.card, validation, energies, pixel_size=pixel_size),
        },
        "machine": model_store.machine_description(),
    }
    out = args.out or ROOT / "models" / "checks" / f"energy_finetune_{args.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["validation_by_energy_kv"], indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
