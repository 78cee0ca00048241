# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 — Strain maps of single-crystal h-BN with four probes (Fig. 4) — simulated stand-in
#
# The paper's first experimental test: a thin flake exfoliated from a single crystal of hexagonal
# boron nitride, seen along [001] at 80 kV and scanned with four probes — circular apertures of
# **0.86, 3.4 and 12 mrad** and a **3.4 mrad bullseye** (a patterned aperture made for precise
# template matching). The flake is free of strain, so the ideal measurement is 0 for ε_xx, ε_yy,
# ε_xy and θ; the mean of each map is the method's *systematic* error and its standard deviation
# the *random* error. The reference lattice is the mean lattice of the bullseye scan. The paper
# finds both methods accurate with the bullseye and the 0.86 mrad probe; at 3.4 mrad the intensity
# gradients inside the disks bias correlation towards positive ε_xx and ε_yy; at 12 mrad, where the
# disks overlap, correlation's systematic error is ≈ −1.1 % and FCU-Net's about three times
# smaller.
#
# **The paper's experimental data are not reachable from here.** By default this notebook runs on
# a *simulated stand-in* built to match the experiment's conditions (`fcunet_lib.hbn`): h-BN [001]
# at 80 kV, the same four probes, a scan over which the thickness and the local tilt vary smoothly,
# and finite dose. Every title and the result file say so (`"data": "simulated stand-in"`). If you
# have the paper's files, pass `data_path` and `probe_path` (the four scans and their vacuum probes)
# and the calibration; the same cells then analyse the real data.

# %% tags=["parameters"]
scale = "default"
seed = 0  # seed of the stand-in's thickness and tilt fields and of its shot noise
data_path = None  # None: simulate the stand-in; else the 4 scans, {probe name: path} or a list in PROBES order
probe_path = None  # vacuum probe of each scan, same form as data_path (needed with data_path)
pixel_size = None  # reciprocal pixel size of the real files [1/Å]: one number or {probe name: number}
energy_kv = 80.0  # beam energy [kV] (the paper's)
semiangles_mrad = None  # the real probes' semiangles [mrad] where they differ from the paper's: {probe name: value}
exclude_rows = 0  # first scan rows (rx) left out of the statistics (the paper left out 2 of its experiment's)
thickness_range_nm = (8.0, 16.0)  # stand-in thickness field [nm]
max_tilt_mrad = 2.0  # stand-in largest local tilt [mrad]
n_tilt_states = 6  # distinct tilts simulated per probe (stand-in)
dose = 3e5  # stand-in electrons per pattern (≈ 1 pA for the paper's 50 ms dwell)
network = "fcunet"  # the network behind the learned finder: any shipped model of this scale (Table I's rows)
model_file = None  # a .keras file of that kind of network to use instead (e.g. a run checkpoint); None: the shipped one
correlation_options = {}  # extra find_disks_correlation options (e.g. notebook 06's tuned "correlation_options")
network_options = {}  # extra find_disks_fcunet peak options (e.g. notebook 06's tuned "network_options")

# %%
# Derive the sizes from the scale, choose the data source and load this scale's network, FCU-Net by default (≈ 5 s: Keras import).
# Whole notebook on 2 cores: ≈ 50 s at smoke (15 s cached), ≈ 3 min at default (≈ 2.5 min cached).
import numpy as np
import pandas as pd

import fcunet_lib as fl
import fcunet_lib.hbn
import fcunet_lib.hbn_strain
import fcunet_lib.plots.hbn  # makes fl.plots.hbn available
import fcunet_lib.plots.training  # MODEL_LABELS
import fcunet_lib.training_domain
import fcunet_lib.training_run

cfg = fl.config.get_scale(scale)
simulated = data_path is None
if simulated and probe_path is not None:
    raise ValueError("probe_path is given without data_path; give both to analyse real files, or neither")
if not simulated and (probe_path is None or pixel_size is None):
    raise ValueError("with data_path, give probe_path (the 4 vacuum probes) and pixel_size [1/Å] as well")
DATA_LABEL = "simulated stand-in" if simulated else "experimental data"
PROBES = fl.hbn.PROBES
METHODS = fl.plots.hbn.METHODS
pattern_size = cfg.simulation.pattern_size
model = fl.training_run.load_network(scale, network, model_file=model_file)  # shipped ones sha256-checked
network_label = fl.plots.training.MODEL_LABELS[network]
stand_in = fl.hbn.StandIn(scan_shape=cfg.evaluation.scan_shape, thickness_range_nm=tuple(thickness_range_nm),
                          max_tilt_mrad=max_tilt_mrad, n_tilt_states=n_tilt_states, dose=dose, seed=seed)
print(f"data: {DATA_LABEL}; probes: {', '.join(p.label for p in PROBES)}")
print(f"{network_label}:", model.card["command"], "| sha256", model.card["sha256"][:12])
# Where the probes lie outside what the network was trained on (fl.training_domain): one line each.
domain_warnings = {p.name: fl.training_domain.card_warnings(
    model.card, energy_kv=stand_in.energy_kv if simulated else energy_kv,
    semiangle_mrad=(semiangles_mrad or {}).get(p.name, p.semiangle_mrad)) for p in PROBES}
for name, lines in domain_warnings.items():
    print(f"outside the training library, {name}:", "; ".join(lines) or "nothing")

# %% [markdown]
# ## The stand-in sample
#
# Bulk h-BN (a = 2.504 Å, c = 6.661 Å) along [001], strain-free everywhere. Over the scan
# (`evaluation.scan_shape` positions, 10 nm apart like the paper's 100 Å steps) two smooth random
# fields change what the beam sees:
#
# * the **thickness**, 8–16 nm (about 25–50 layers): thin at 80 kV, yet thick enough for dynamical
#   scattering to shape the disks (below ≈ 6 nm the overlapping 12 mrad disks leave correlation
#   nothing to find);
# * the **local tilt**, the slope of a gently bent flake (the gradient of a smooth height field), at
#   most 2 mrad — a fifth of the 9.6 mrad Bragg angle of {100}: the intensities inside the disks
#   change, the crystal stays on zone.
#
# To keep the simulation cheap the tilt field is summarised by a handful of tilt states
# (deterministic k-means); each state is one multislice run whose exit planes give the whole
# thickness series, and every position takes the pattern of its nearest tilt state and nearest
# simulated thickness, then its own Poisson noise for 3 × 10⁵ electrons. The table says how close
# the simulated states are to the fields.

# %%
# Draw the thickness and tilt fields and choose the tilt states (instant; no simulation yet).
thickness_field = fl.hbn.thickness_map(stand_in)
tilt_field = fl.hbn.tilt_map(stand_in)
states = fl.hbn.tilt_states(tilt_field, stand_in.n_tilt_states)
state_of = fl.hbn.nearest_index(tilt_field, states)
tilt_error = np.linalg.norm(tilt_field - states[state_of], axis=-1)
pd.DataFrame({"tilt state": np.arange(len(states)), "tx [mrad]": states[:, 0], "ty [mrad]": states[:, 1],
              "positions": np.bincount(state_of.ravel(), minlength=len(states)),
              "largest distance to the field [mrad]": [tilt_error[state_of == k].max() for k in range(len(states))]})

# %% [markdown]
# ## The four scans
#
# abTEM multislice with the library's numerical setting (0.12 Å sampling, 2 Å slices); patterns
# resampled to the model's grid of 1/46.08 Å⁻¹ pixels and cropped to its input size. The bullseye is
# abTEM's `Bullseye` aperture (three open rings, three spokes). Each thickness series is stored in
# the scale's data folder, so a rerun simulates nothing. With `data_path` the real files are read
# instead, through `fl.userdata` (any format py4DSTEM reads, HDF5/EMD or `.npy`).

# %%
# Simulate (or load) the four scans (stand-in: 4 probes × 6 tilt states = 24 thickness series, ≈ 1 s each
# on 2 cores: ≈ 35 s at smoke, ≈ 40 s at default, whatever the scan size; cached, a rerun ≈ 1 s).
if simulated:
    cache_dir = fl.config.scale_data_dir(scale) / "hbn"
    scans = {p.name: fl.hbn.simulate_scan(stand_in, p, pattern_size=pattern_size, cache_dir=cache_dir)
             for p in PROBES}
    inputs = {name: (scan.data, scan.probe, fl.config.RECIPROCAL_PIXEL_SIZE) for name, scan in scans.items()}
    for name, scan in scans.items():
        print(f"{name}: {scan.n_unique} thickness series ({scan.n_simulated} simulated now), "
              f"data {scan.data.shape}, {scan.data.sum(axis=(2, 3)).mean():.3g} e⁻ per pattern")
else:
    measured = fl.hbn_strain.measured_scans(data_path, probe_path, pixel_size=pixel_size, energy_kv=energy_kv,
                                            semiangles_mrad=semiangles_mrad)
    inputs = {name: (scan.data, scan.probe, scan.calibration.pixel_size) for name, scan in measured.items()}
mean_patterns = {name: np.asarray(getattr(data, "data", data), np.float64).mean(axis=(0, 1))
                 for name, (data, _, _) in inputs.items()}

# %% [markdown]
# ## Finding the disks
#
# Both finders get the same smallest peak spacing, half the {100} spacing (0.23 Å⁻¹), set from the
# lattice as py4DSTEM advises; it also keeps the side lobes of the bullseye's correlation from
# counting as disks. Correlation uses the paper's sigmoid kernel and multicorr refinement; for the
# 12 mrad probe, whose disks overlap, plain cross correlation has no maximum at the diffracted disks
# at all, so it uses hybrid correlation (`corrPower = 0.5`). FCU-Net predicts the structure-factor
# image (averaging `mc_passes` Monte-Carlo dropout passes in each of `symmetry_frames` mirrored and
# rotated copies of the pattern, `fl.symmetry`) and reads its maxima. The parameters
# `correlation_options` and `network_options` override these options.
#
# The learned finder reads the prediction of the `network` parameter's model, FCU-Net by default;
# `-p network=spectral_unet` (or `unet`) puts another of Table I's networks in its place, through
# the same peak finder, and `-p model_file=PATH` a network of that kind trained elsewhere (a run
# checkpoint, another scale's model; the result file records its sha256).

# %%
# Detect the disks with both methods (≈ 5 s at smoke; ≈ 2 min at default on 2 cores: 4 × 400 patterns of
# 128², FCU-Net ≈ 40 ms each with 3 MC passes, correlation ≈ 15 ms).
bragg = {"correlation": {}, "fcunet": {}}
for spec in PROBES:
    data, probe, size = inputs[spec.name]
    bragg["correlation"][spec.name] = fl.find_disks_correlation(
        data, probe, pixel_size=size,
        **{**fl.hbn_strain.correlation_options(spec, pixel_size=size, energy_kv=energy_kv), **correlation_options})
    bragg["fcunet"][spec.name] = fl.find_disks_fcunet(
        data, probe, model=model, pixel_size=size, mc_passes=cfg.evaluation.mc_passes,
        symmetry_frames=cfg.evaluation.symmetry_frames,
        **{**fl.hbn_strain.fcunet_options(), **network_options})
peaks_per_pattern = {method: {name: float(np.mean([len(bv.raw[i, j].data) for i in range(bv.Rshape[0])
                                                    for j in range(bv.Rshape[1])]))
                              for name, bv in by_probe.items()} for method, by_probe in bragg.items()}
pd.DataFrame(peaks_per_pattern)

# %% [markdown]
# ## Strain against the bullseye scan
#
# As in the paper, the reference lattice is the mean lattice of the bullseye scan, measured by each
# method on its own peaks: `mean_lattice` fits g1 and g2 at every bullseye position (near the
# {100} spots at 30° and 90° from qx for the stand-in; chosen automatically for real files) and
# averages them. That reference, in Å⁻¹, then serves all four probes of the method, which also fixes
# the same basis in every map. The origin is the pattern centre for the stand-in (exact: a beam tilt
# does not move the direct beam) and is measured for real files.

# %%
# Measure the bullseye reference and the four strain maps per method (≈ 1 s per map).
origin = "center" if simulated else "measure"
reference_size = inputs[fl.hbn.REFERENCE_PROBE][2]
g1_guess, g2_guess = fl.hbn.reciprocal_basis_px(reference_size) if simulated else (None, None)
references, strain = {}, {}
for method, by_probe in bragg.items():
    try:
        references[method] = fl.hbn_strain.mean_lattice(by_probe[fl.hbn.REFERENCE_PROBE], pixel_size=reference_size,
                                                         origin=origin, g1=g1_guess, g2=g2_guess)
    except ValueError as error:  # e.g. a smoke-scale model that finds no lattice
        print(f"{method}: no bullseye reference ({error})")
        references[method] = None
    strain[method] = {name: fl.hbn_strain.measure_strain(bv, references[method], pixel_size=inputs[name][2],
                                                         origin=origin, exclude_rows=exclude_rows)
                      for name, bv in by_probe.items()}
pd.DataFrame([{"method": method, "probe": name, **{f"{c} mean": (o["stats"][c] or {}).get("mean")
                                                    for c in fl.hbn_strain.COMPONENTS},
               **{f"{c} std": (o["stats"][c] or {}).get("std") for c in fl.hbn_strain.COMPONENTS},
               "fitted": f"{o['n_fitted']}/{o['n_positions']}", "error": o["error"]}
              for method, by_probe in strain.items() for name, o in by_probe.items()]).round(3)

# %% [markdown]
# ## Fig. 4

# %%
# Draw the figure (≈ 3 s).
fields = {"thickness_nm": thickness_field, "tilt_mrad": tilt_field} if simulated else None
fig = fl.plots.hbn.plot_fig4(mean_patterns, strain, data_label=DATA_LABEL, fields=fields, network_label=network_label)
fig

# %% [markdown]
# (a) The mean diffraction pattern of each scan (log scale): tiny separate disks at 0.86 mrad,
# separate disks with intensity gradients at 3.4 mrad, the bullseye's rings, and overlapping disks
# at 12 mrad; for the stand-in, its thickness and tilt fields. (b) Correlation and (c) FCU-Net:
# ε_xx, ε_yy, ε_xy [%] and θ [°] for each probe, with the mean (systematic error) ± standard
# deviation (random error) inset, and under each column what the paper reports for its experiment.
# The bullseye's means are ≈ 0 by construction (it is the reference). The stand-in has no scan
# distortions, descan or drift, and its tilt states are few, so its maps are smoother than the
# experiment's; its systematic errors come from the probes and the dynamical scattering alone.
#
# The learned finder is read here outside what it was trained on: the first cell prints, per probe,
# where the beam lies beyond the network's training library (`fl.training_domain`, also in the
# result file as `training_domain_warnings`). The default library is simulated at 300 kV with 1–4
# mrad probes, so at 80 kV every probe is at an untrained energy, and the 0.86 and 12 mrad disks
# are narrower and wider in Å⁻¹ than any it has seen. `python tools/radial_bias.py` measures what
# that does to the disk positions, band by band in |g|.

# %%
# Write the figure and its numbers with provenance (instant).
goals = fl.hbn_strain.goal_check(strain)
numbers = {
    "units": {"strain": "percent", "theta": "degrees"},
    "datasets": {name: {method: {**{c: strain[method][name]["stats"][c] for c in fl.hbn_strain.COMPONENTS},
                                 "systematic_error": fl.hbn_strain.systematic_error(strain[method][name]),
                                 "n_fitted": strain[method][name]["n_fitted"],
                                 "n_positions": strain[method][name]["n_positions"],
                                 "error": strain[method][name]["error"],
                                 "peaks_per_pattern": peaks_per_pattern[method][name]}
                        for method in METHODS}
                 for name in (p.name for p in PROBES)},
    "goals": goals,
    "probes": {p.name: p.to_dict() for p in PROBES},
    "reference": {"kind": "mean lattice of the bullseye scan, per method", "probe": fl.hbn.REFERENCE_PROBE,
                  **{method: None if ref is None else {"g1_inv_A": ref[0], "g2_inv_A": ref[1]}
                     for method, ref in references.items()}},
    "ideal_g100_inv_A": fl.hbn.lattice_spacing_inv_A(),
    "paper": {"numbers": fl.plots.hbn.PAPER_NUMBERS, "notes": fl.plots.hbn.PAPER_NOTES,
              "note": "read from the paper's text; its experimental scans, 112 x 108 positions"},
    "energy_kv": stand_in.energy_kv if simulated else energy_kv,
    "exclude_rows": exclude_rows,
    "mc_passes": cfg.evaluation.mc_passes,
    "symmetry_frames": cfg.evaluation.symmetry_frames,
    "network": network,  # whose predictions the "fcunet" entries (fl.find_disks_fcunet) read
    "model_file": None if model_file is None else str(model_file),  # None: the shipped network
    "training_domain_warnings": domain_warnings,  # per probe, where it lies outside the network's library
    "peak_options": {"correlation": dict(correlation_options), "fcunet": dict(network_options)},  # beyond the defaults
    "seed": seed,
}
if simulated:
    first = scans[PROBES[0].name]
    numbers["stand_in"] = {
        **stand_in.to_dict(),
        "thickness_field_nm": {"min": thickness_field.min(), "max": thickness_field.max(),
                               "mean": thickness_field.mean()},
        "tilt_field_mrad": {"max": np.linalg.norm(tilt_field, axis=-1).max(),
                            "mean": np.linalg.norm(tilt_field, axis=-1).mean()},
        "tilt_states_mrad": first.states_mrad,
        "simulated_thicknesses_nm": first.thicknesses_nm,
        "n_simulations": {name: scan.n_unique for name, scan in scans.items()},
        "pattern_size": pattern_size,
    }
else:
    numbers["calibration"] = {name: scan.calibration.to_dict() for name, scan in measured.items()}
    numbers["files"] = {name: {"data": scan.data_file, "probe": scan.probe_file} for name, scan in measured.items()}
results_path = fl.results.write_results(
    "fig4_strain_hbn", numbers, scale=scale, figure=fig, units="percent (strain), degrees (theta)",
    data=DATA_LABEL,
    models={network: model.card["sha256"]}, library_hash=model.card.get("library_hash"),
)
print("wrote", results_path)
print("goals met:", goals["met"], "| 12 mrad correlation / FCU-Net systematic error:", goals["ratio_12mrad"])

# %%
# Check the run (instant). Smoke: only that everything ran and is well formed.
assert results_path.is_file()
if simulated:
    assert abs(thickness_field.min() - stand_in.thickness_range_nm[0]) < 1e-9
    assert abs(thickness_field.max() - stand_in.thickness_range_nm[1]) < 1e-9
    assert np.linalg.norm(tilt_field, axis=-1).max() <= stand_in.max_tilt_mrad + 1e-9
    for scan in scans.values():
        assert scan.data.shape == tuple(cfg.evaluation.scan_shape) + (pattern_size, pattern_size)
        assert scan.data.min() >= 0 and np.all(scan.data == np.round(scan.data))  # counts
        assert abs(scan.data.sum(axis=(2, 3)).mean() / stand_in.dose - 1) < 0.01
        assert scan.n_unique == len(states) <= stand_in.n_tilt_states
for method in METHODS:
    for name, outcome in strain[method].items():
        if outcome["error"] is not None:
            assert outcome["n_fitted"] == 0 and all(s is None for s in outcome["stats"].values())
        assert all(s is not None for s in outcome["stats"].values()) == (outcome["n_fitted"] > 0)
        for stats in outcome["stats"].values():
            assert stats is None or (np.isfinite(stats["mean"]) and stats["std"] >= 0)
if scale != "smoke" and simulated:
    # Trained models on 128² patterns, strain-free crystal: correlation must map the three
    # well-separated probes and stay within sanity bounds (the paper's accuracy is in the JSON).
    assert references["correlation"] is not None
    ideal = fl.hbn.lattice_spacing_inv_A()
    assert all(abs(np.linalg.norm(g) / ideal - 1) < 0.05 for g in references["correlation"])
    for name in ("bullseye_3.4mrad", "circular_0.86mrad", "circular_3.4mrad"):
        outcome = strain["correlation"][name]
        assert outcome["error"] is None and outcome["n_fitted"] >= 0.9 * outcome["n_positions"]
        assert all(abs(outcome["stats"][c]["mean"]) < 5.0 for c in fl.hbn_strain.COMPONENTS)
    assert abs(strain["correlation"][fl.hbn.REFERENCE_PROBE]["stats"]["e_xx"]["mean"]) < 0.1  # the reference
