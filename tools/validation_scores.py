"""Score trained networks on the validation split: SSIM, spots, background and disks.

Usage::

    python tools/validation_scores.py models/fcunet.keras build/.../checkpoint-0004.keras \
        [--scale default] [--patterns 300] [--seed 0] [--fourier-padding circular] \
        [--symmetry-frames 4] [--other-energies 80 200] \
        [--out models/checks/validation_scores.json]

Answers "is this run better than the shipped model?" without looking at the
test split: each model (a shipped ``.keras`` with its card next to it, or a
run checkpoint with the run's ``state.json`` beside it) predicts the same
``--patterns`` validation patterns, chosen as notebook 06 chooses its
correlation-tuning subset (:func:`fcunet_lib.plots.disks.select_patterns`,
balanced over its categories), and gets

* SSIM on and off zone, spot recovery, direct beam and background, in units
  of each true image's maximum (``tools/compare_target_norms.py``'s
  :func:`prediction_summary`);
* :func:`centre_cross`, the excess on the lines through the centre;
* the mean eq. (1) disk accuracy of :func:`fcunet_lib.find_disks_fcunet`
  (deterministic, no Monte-Carlo dropout), with and without the direct beam;
  and, once, that of py4DSTEM correlation with its default options (notebook
  06 tunes them; this is only a reference point).

With ``--symmetry-frames N`` each model's disks are scored a second time,
its predictions averaged over N symmetry frames of every pattern
(:mod:`fcunet_lib.symmetry`, as ``find_disks_fcunet(symmetry_frames=N)``):
the evidence behind the scales' ``evaluation.symmetry_frames``.

With ``--fourier-padding`` every FCU-Net is scored a second time, rebuilt
with that padding of its Fourier-domain convolutions and the same weights
(:func:`fcunet_lib.models.with_fourier_padding`): a diagnostic of what the
padding does to a trained network, not a network anyone trained.

With ``--other-energies KV..`` the patterns come from the validation split of
the scale's multi-energy library (``fcunet library --other-energies``), and
each model's SSIM and disk accuracy are also given per beam energy.

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


def centre_cross(images, *, gap=6, beside=4):
    """How much brighter the two lines through the centre are than lines beside them.

    Mean of ``images`` ``[n, N, N]`` on the row and column through the centre
    (leaving out ``gap`` pixels on either side of the centre) divided by the
    mean on the rows and columns ``beside`` pixels away: ≈ 1 without the
    cross of streaks that zero-padded Fourier-domain convolutions leave.
    """
    images = np.asarray(images)
    n = images.shape[-1]
    c = n // 2
    keep = np.ones(n, bool)
    keep[c - gap: c + gap + 1] = False

    def lines(offset):
        return np.concatenate([images[:, c + offset, keep].ravel(), images[:, keep, c + offset].ravel()])

    side = np.concatenate([lines(beside), lines(-beside)])
    return float(lines(0).mean() / side.mean())


def disk_scores(found, truth, size, pixel_size):
    """Eq. (1) accuracy per pattern, with and without the direct beam."""
    import fcunet_lib.plots.disks as plots_disks

    plain = [plots_disks.accuracy(f, t, pixel_size=pixel_size) for f, t in zip(found, truth)]
    diffracted = [plots_disks.accuracy(
        plots_disks.without_direct_beam(f, size, pixel_size=pixel_size),
        plots_disks.without_direct_beam(t, size, pixel_size=pixel_size),
        pixel_size=pixel_size) for f, t in zip(found, truth)]
    return plain, diffracted


def load_scored_model(path: Path):
    """A model and the card or run state that says how its targets were scaled."""
    from fcunet_lib import training_run

    try:
        model = training_run.load_model_file(path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    if "architecture" in model.card:
        return model, model.card
    # a run's state has no architecture: read it off the model
    return model, {**model.card, "architecture": architecture_of(model)}


def architecture_of(model) -> dict:
    """The card keys this tool reports, read off a built model's layers."""
    from fcunet_lib import layers

    architecture = {"output_activation": "rectified" if any(
        isinstance(layer, layers.RectifiedOutput) for layer in model.layers) else "linear"}
    paddings = {layer.padding for layer in model.layers if isinstance(layer, layers.ComplexConv2D)}
    if paddings:
        architecture["fourier_padding"] = "circular" if paddings == {"circular"} else "zeros"
    return architecture


def energies_of(split: dict) -> np.ndarray:
    """Beam energy [kV] of every pattern of a loaded split (from its job records)."""
    return np.repeat([float(record["energy_kv"]) for record in split["jobs"]],
                     [len(record["thicknesses_nm"]) for record in split["jobs"]])


def scores_per_energy(predicted, targets, card, zones, plain, diffracted, energies) -> dict:
    """SSIM by zone and mean eq. (1) disk accuracy of one model's predictions per beam energy [kV]."""
    from fcunet_lib import evaluation

    truth = evaluation.targets_like_model(targets, card)
    energies = np.asarray(energies)
    out = {}
    for energy in sorted(set(energies.tolist())):
        chosen = energies == energy
        out[f"{energy:g}"] = {
            "patterns": int(chosen.sum()),
            "ssim": evaluation.ssim_by_zone(predicted[chosen], truth[chosen], zones[chosen]),
            "disk_accuracy": float(np.mean(np.asarray(plain)[chosen])),
            "disk_accuracy_diffracted": float(np.mean(np.asarray(diffracted)[chosen])),
        }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help=".keras files")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--patterns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fourier-padding", choices=("zeros", "circular"), default=None,
                        help="also score each FCU-Net rebuilt with this padding (same weights)")
    parser.add_argument("--symmetry-frames", type=int, choices=(2, 4, 8), default=None,
                        help="also score each model's disks averaged over this many symmetry frames "
                             "(fcunet_lib.symmetry); the image scores stay the network's own")
    parser.add_argument("--other-energies", type=float, nargs="+", default=None, metavar="KV",
                        help="score on the scale's multi-energy library with these beam energies [kV] "
                             "beside its own, per energy as well")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "checks" / "validation_scores.json")
    args = parser.parse_args(argv)

    import fcunet_lib as fl
    import fcunet_lib.plots.disks
    from compare_target_norms import prediction_summary
    from fcunet_lib import evaluation, models, training_run

    pixel_size = fl.config.RECIPROCAL_PIXEL_SIZE
    folder, _, validation = training_run.load_training_splits(args.scale, seed=args.seed,
                                                              other_energies_kv=args.other_energies)
    truth_peaks, categories = fl.plots.disks.categorised_split(
        validation, pixel_size=pixel_size, thick_min_nm=THICK_MIN_NM)
    chosen = fl.plots.disks.select_patterns(categories, args.patterns, seed=args.seed)
    cbed = validation["cbed"][chosen].astype(np.float32)
    probes = validation["probe"][chosen].astype(np.float32)
    zones = np.asarray(validation["zone"])[chosen]
    targets = validation["target"][chosen].astype(np.float32)
    truth = [truth_peaks[i] for i in chosen]
    energies = energies_of(validation)[chosen] if args.other_energies else None
    size = cbed.shape[-1]

    extra_flags = f" --fourier-padding {args.fourier_padding}" if args.fourier_padding else ""
    if args.symmetry_frames:
        extra_flags += f" --symmetry-frames {args.symmetry_frames}"
    if args.other_energies:
        extra_flags += " --other-energies " + " ".join(f"{e:g}" for e in args.other_energies)
    report = {"command": " ".join(["python tools/validation_scores.py", *map(str, args.models),
                                   f"--scale {args.scale} --patterns {args.patterns} --seed {args.seed}"
                                   f"{extra_flags}"]),
              "library_folder": Path(folder).name, "split": "validation",
              "patterns": int(len(chosen)), "units": "images in units of each true image's maximum",
              "models": {}}
    scored = []
    for path in args.models:
        model, card = load_scored_model(path)
        padding = architecture_of(model).get("fourier_padding")  # None: no Fourier-domain convolutions
        scored.append((str(path), model, card, padding))
        if args.fourier_padding and padding is not None:
            scored.append((f"{path} (fourier_padding={args.fourier_padding}, same weights)",
                           models.with_fourier_padding(model, args.fourier_padding), card,
                           args.fourier_padding))
    for label, model, card, padding in scored:
        start = time.perf_counter()
        predicted = evaluation.predict_targets(model, cbed, probes, target_scale=card["target_scale"])
        relative, true_relative = evaluation.relative_to_truth(predicted, targets, card)
        summary = prediction_summary(relative, true_relative, zones)
        peaks = fl.plots.disks.find_peaks(cbed, probes, model=model, pixel_size=pixel_size)
        found = peaks["fcunet"]
        if "correlation_default_options" not in report:  # the baseline, once (no tuning here)
            report["correlation_default_options"] = {"disk_accuracy": float(np.mean(
                [fl.plots.disks.accuracy(f, t, pixel_size=pixel_size)
                 for f, t in zip(peaks["correlation"], truth)]))}
        plain, diffracted = disk_scores(found, truth, size, pixel_size)
        report["models"][label] = {
            "target_norm": evaluation.target_norm_of(card),
            "output_activation": training_run.output_activation_of(card),
            "fourier_padding": padding,
            "epochs": card.get("epochs_done", card["options"]["epochs"]),  # run state or card
            **summary,
            "centre_cross": centre_cross(relative),
            "disk_accuracy": float(np.mean(plain)),
            "disk_accuracy_diffracted": float(np.mean(diffracted)),
            "peaks_per_pattern": float(np.mean([len(f) for f in found])),
            "seconds": time.perf_counter() - start,
        }
        if energies is not None:
            report["models"][label]["by_energy_kv"] = scores_per_energy(
                predicted, targets, card, zones, plain, diffracted, energies)
        if args.symmetry_frames:
            start = time.perf_counter()
            averaged = fl.plots.disks.network_peaks(cbed, probes, model=model, pixel_size=pixel_size,
                                                    symmetry_frames=args.symmetry_frames)
            plain_averaged, diffracted_averaged = disk_scores(averaged, truth, size, pixel_size)
            report["models"][label][f"symmetry_frames_{args.symmetry_frames}"] = {
                "disk_accuracy": float(np.mean(plain_averaged)),
                "disk_accuracy_diffracted": float(np.mean(diffracted_averaged)),
                "peaks_per_pattern": float(np.mean([len(f) for f in averaged])),
                "seconds": time.perf_counter() - start,
            }
            print(label, f"symmetry_frames={args.symmetry_frames}",
                  json.dumps(report["models"][label][f"symmetry_frames_{args.symmetry_frames}"]))
        print(label, json.dumps({k: report["models"][label][k]
                                for k in ("ssim", "spot_recovery_median", "centre_cross", "disk_accuracy",
                                          "disk_accuracy_diffracted")}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
