"""How far each finder puts its peaks from the true spots, along g: the radial bias.

Usage::

    python tools/radial_bias.py fcunet spectral_unet unet [--scale default] [--patterns 300] \
        [--seed 0] [--symmetry-frames 1] [--out models/checks/radial_bias.json]
    python tools/radial_bias.py fcunet spectral_unet unet --no-validation \
        --hbn-energy-kv 300 --hbn-keep-disk-size --out models/checks/radial_bias_energy_300kv.json

A lattice read from peaks that sit systematically closer to (or farther from)
the centre than the true spots is a lattice scaled by that fraction: a strain
error that no reference cancels when the bias differs between scans. For every
peak matched to a true spot (nearest, within the paper's 0.05 Å⁻¹ on the
validation split, where larger displacements are therefore not counted;
within a quarter of |g₁₀₀| on h-BN), the
displacement along the spot's direction from the pattern centre,
``(found − true)·ĝ`` [pixels; negative: pulled towards the centre;
:func:`fcunet_lib.metrics.radial_displacements`], is
averaged per band of |g| (and, on the validation split, per band of probe
radius), for

* the validation split (``--patterns`` patterns chosen as
  ``tools/validation_scores.py`` chooses them; 300 kV, the training
  distribution), true spots from the true structure-factor images;
* the h-BN stand-in of notebook 08 (80 kV, the four probes, the first 4×4
  scan positions), true spots at the strain-free lattice points, in units
  of |g₁₀₀|.

Each model's peaks come from :func:`fcunet_lib.find_disks_fcunet` with its
default options, one deterministic pass (``--symmetry-frames`` averages over
frames); py4DSTEM correlation with default options (h-BN: notebook 08's) is
scored beside them. Writes one JSON; nothing is shipped.

``--hbn-energy-kv`` simulates the same stand-in at another beam energy, and
``--hbn-keep-disk-size`` scales each probe's semiangle by λ(E)/λ(80 kV) so
that the disks keep their radius in Å⁻¹ (and on the model's pixel grid):
what then changes is only the physics of the energy (the curvature of the
Ewald sphere and the strength of the scattering), which separates it from
the size of the disks. ``--extra-model NAME=PATH`` scores a further
``.keras`` file (a run checkpoint, say) beside the shipped models.
``--no-validation`` skips the validation split (no
library needed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Bands of |g| on the validation split [pixels of the model grid].
RADIUS_BANDS_PX = ((3, 15), (15, 30), (30, 45), (45, 70))
#: Bands of probe radius on the validation split [pixels].
PROBE_BANDS_PX = ((0, 3), (3, 6), (6, 12))
#: h-BN scan positions scored per probe (the first rows and columns).
HBN_POSITIONS = 4
#: h-BN peaks are matched to lattice points within this fraction of |g₁₀₀|: the
#: indexing stays unambiguous, and displacements beyond the paper's 0.05 Å⁻¹
#: (0.11 |g₁₀₀|), which eq. (1) would not match, are counted too.
HBN_MATCH_FRACTION = 0.25


def band_means(rows, bands, *, scale=1.0):
    """Mean radial displacement [pixels] and count per band of ``rows[:, 0] / scale``."""
    out = {}
    for low, high in bands:
        inside = (rows[:, 0] / scale >= low) & (rows[:, 0] / scale < high)
        out[f"{low:g}-{high:g}"] = {"mean_px": float(np.mean(rows[inside, 1])) if inside.any() else None,
                                    "n": int(inside.sum())}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", choices=["unet", "spectral_unet", "fcunet"])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--patterns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--symmetry-frames", type=int, choices=(1, 2, 4, 8), default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "checks" / "radial_bias.json")
    parser.add_argument("--extra-model", action="append", default=[], metavar="NAME=PATH",
                        help="also score this .keras file (e.g. a run checkpoint) under NAME")
    parser.add_argument("--no-validation", action="store_true", help="skip the validation split (no library)")
    parser.add_argument("--hbn-energy-kv", type=float, default=None,
                        help="beam energy of the h-BN stand-in [kV] (default: the paper's 80 kV)")
    parser.add_argument("--hbn-keep-disk-size", action="store_true",
                        help="scale the probes' semiangles by λ(E)/λ(80 kV): same disk radius in Å⁻¹")
    args = parser.parse_args(argv)

    import fcunet_lib as fl
    from fcunet_lib import training_run

    pixel_size = fl.config.RECIPROCAL_PIXEL_SIZE
    match_px = fl.metrics.PAPER_MATCH_RADIUS / pixel_size
    models = training_run.load_scale_models(args.scale, args.models)
    extra = dict(extra_models(args.extra_model))
    report = {"command": " ".join(["python tools/radial_bias.py", *args.models, f"--scale {args.scale}",
                                   f"--patterns {args.patterns} --seed {args.seed}",
                                   f"--symmetry-frames {args.symmetry_frames}",
                                   *(["--no-validation"] if args.no_validation else []),
                                   *([f"--hbn-energy-kv {args.hbn_energy_kv:g}"] if args.hbn_energy_kv else []),
                                   *(["--hbn-keep-disk-size"] if args.hbn_keep_disk_size else []),
                                   *(f"--extra-model {item}" for item in args.extra_model)]),
              "units": "pixels of the model grid; negative: towards the pattern centre",
              "match_radius_inv_A": fl.metrics.PAPER_MATCH_RADIUS,
              "models": {name: model.card["sha256"] for name, model in models.items()}}
    for name, model in extra.items():
        models[name] = model
        report["models"][name] = model.card["sha256"]

    if not args.no_validation:
        report["validation"] = validation_bias(args, models, pixel_size, match_px)
    report["hbn"] = hbn_bias(args, models, pixel_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


def extra_models(items):
    """``(name, model)`` for every ``NAME=PATH`` of ``--extra-model`` (the card beside it, or the run state)."""
    from fcunet_lib import training_run

    for item in items:
        name, _, path = item.partition("=")
        if not name or not path:
            raise SystemExit(f"--extra-model {item!r}: expected NAME=PATH of a .keras file")
        try:
            yield name, training_run.load_model_file(path, network=name)
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"--extra-model {item!r}: {error}") from None


def validation_bias(args, models, pixel_size, match_px):
    """Radial displacements on the validation split, per probe radius and |g| band [pixels]."""
    import fcunet_lib as fl
    import fcunet_lib.plots.disks
    from fcunet_lib import training_run

    _, _, validation = training_run.load_training_splits(args.scale, seed=args.seed)
    truth_peaks, categories = fl.plots.disks.categorised_split(validation, pixel_size=pixel_size, thick_min_nm=25.0)
    chosen = fl.plots.disks.select_patterns(categories, args.patterns, seed=args.seed)
    cbed = validation["cbed"][chosen].astype(np.float32)
    probes = validation["probe"][chosen].astype(np.float32)
    truth = [truth_peaks[i] for i in chosen]
    centre = cbed.shape[-1] // 2
    probe_radius = np.array([fl.disks.probe_disk(p)[0] for p in probes])
    found = {name: fl.plots.disks.network_peaks(cbed, probes, model=model, pixel_size=pixel_size,
                                                symmetry_frames=args.symmetry_frames)
             for name, model in models.items()}
    found["correlation"] = fl.plots.disks.correlation_peaks(cbed, probes, pixel_size=pixel_size)
    report = {"patterns": len(chosen), "radius_bands_px": RADIUS_BANDS_PX, "methods": {}}
    for method, peaks in found.items():
        by_probe = {}
        for low, high in PROBE_BANDS_PX:
            members = [k for k in range(len(chosen)) if low <= probe_radius[k] < high]
            rows = np.concatenate([fl.metrics.radial_displacements(peaks[k], truth[k], (centre, centre),
                                                                   radius=match_px) for k in members]
                                  or [np.zeros((0, 2))])
            by_probe[f"probe radius {low:g}-{high:g} px"] = band_means(rows, RADIUS_BANDS_PX)
        report["methods"][method] = by_probe
        print("validation", method, json.dumps(by_probe))
    return report


def hbn_probes(energy_kv, keep_disk_size):
    """Notebook 08's probes, their semiangles scaled to ``energy_kv`` if ``keep_disk_size``."""
    import dataclasses

    import fcunet_lib as fl
    import fcunet_lib.hbn
    from fcunet_lib.userdata import electron_wavelength

    if not keep_disk_size:
        return fl.hbn.PROBES
    ratio = electron_wavelength(energy_kv) / electron_wavelength(fl.hbn.ENERGY_KV)  # r = α / λ
    return tuple(dataclasses.replace(spec, semiangle_mrad=round(spec.semiangle_mrad * ratio, 4))
                 for spec in fl.hbn.PROBES)


def hbn_bias(args, models, pixel_size):
    """Radial displacements on the strain-free h-BN stand-in, per shell of |g| [px and % of |g|]."""
    import fcunet_lib as fl
    import fcunet_lib.hbn
    import fcunet_lib.hbn_strain

    cfg = fl.config.get_scale(args.scale)
    energy_kv = args.hbn_energy_kv or fl.hbn.ENERGY_KV
    stand_in = fl.hbn.StandIn(scan_shape=cfg.evaluation.scan_shape, energy_kv=energy_kv)
    g1, g2 = fl.hbn.reciprocal_basis_px(pixel_size)
    basis = np.array([g1, g2])
    g100 = float(np.hypot(*g1))
    report = {"positions": HBN_POSITIONS ** 2, "bands": "|g| / |g100|", "g100_px": g100,
              "energy_kv": energy_kv, "keep_disk_size": bool(args.hbn_keep_disk_size),
              "match_radius_g100": HBN_MATCH_FRACTION, "probes": {}}
    for spec in hbn_probes(energy_kv, args.hbn_keep_disk_size):
        scan = fl.hbn.simulate_scan(stand_in, spec, pattern_size=cfg.simulation.pattern_size,
                                    cache_dir=fl.config.scale_data_dir(args.scale) / "hbn")
        data = scan.data[:HBN_POSITIONS, :HBN_POSITIONS]
        centre = data.shape[-1] // 2
        index = np.array([(h, k) for h in range(-6, 7) for k in range(-6, 7)])
        lattice = np.c_[index @ basis + centre, np.ones(len(index))]  # (qx, qy, intensity)
        bragg = {name: fl.find_disks_fcunet(data, scan.probe, model=model, pixel_size=pixel_size,
                                            symmetry_frames=args.symmetry_frames, **fl.hbn_strain.fcunet_options())
                 for name, model in models.items()}
        bragg["correlation"] = fl.find_disks_correlation(
            data, scan.probe, pixel_size=pixel_size,
            **fl.hbn_strain.correlation_options(spec, pixel_size=pixel_size))
        shells = sorted({round(float(np.hypot(*g)) / g100, 2) for g in index @ basis if 0.5 < np.hypot(*g) / g100 < 3.1})
        bands = [(s - 0.05, s + 0.05) for s in shells]
        by_method = {}
        for method, bv in bragg.items():
            rows = np.concatenate([fl.metrics.radial_displacements(
                bv.raw[i, j].data, lattice, (centre, centre), radius=HBN_MATCH_FRACTION * g100)
                for i in range(HBN_POSITIONS) for j in range(HBN_POSITIONS)])
            means = band_means(rows, bands, scale=g100)
            by_method[method] = {f"{s:.2f}": {**v, "percent_of_g": None if v["mean_px"] is None
                                              else 100 * v["mean_px"] / (s * g100)}
                                 for s, v in zip(shells, means.values())}
        report["probes"][spec.name] = {"semiangle_mrad": spec.semiangle_mrad, **by_method}
        print("h-BN", spec.name, f"{spec.semiangle_mrad:g} mrad",
              json.dumps({m: {s: round(v["percent_of_g"], 2) if v["percent_of_g"] is not None
                              else None for s, v in b.items()} for m, b in by_method.items()}))
    return report


if __name__ == "__main__":
    raise SystemExit(main())
