# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -papermill,-execution
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -papermill,-widgets,-varInspector
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 — Strain maps of a simulated Si/SiGe multilayer (Fig. 3)
#
# Disk positions matter because strain is read from them. The paper tests both disk finders on a
# simulated multilayer seen along [011]: alternating Si and Si₀.₅Ge₀.₅ layers on a Si₀.₇₅Ge₀.₂₅
# substrate (lattice parameter 5.6034 Å), the layers strained by exactly +1 % and −1 % relative to
# the substrate along the layer normal x and lattice-matched along the interfaces, so that the
# ideal answer is a ±1 % square wave in ε_xx and **ε_yy = 0 everywhere**; 200 kV, 2 mrad, 40 nm.
# Two datasets: one exactly on zone, and one twisted helically, the tilt rising from 0.4° at the
# substrate to 4.4° at the far side while its direction turns from 45° to 315°. The paper reads
# the RMS error of ε_yy in the layers: on zone ≈ 0.2 % for correlation and ≤ 0.02 % for FCU-Net,
# with the twist ≈ 0.6 % and < 0.1 %.
#
# **How the stack is simulated: two models.** The paper ran one multislice model of the whole
# stack. The `default` scale uses the **column approximation** instead: every probe position is
# simulated as an infinite bulk crystal with that position's lattice (tetragonally strained along x
# only), its composition (a virtual crystal: each site carries (1 − x)·V_Si + x·V_Ge) and its tilt.
# A probe therefore never sees an interface — the interfaces' own scattering, which the paper names
# as one cause of FCU-Net's on-zone error, is absent — and positions in the same state share one
# simulation. The `full` and `paper` scales (or `approximation="supercell"` at any scale) build the
# **supercell**: the whole stack as one periodic cell, each layer a whole number of cells of its
# own lattice, and a line scan across it, so the probe does see the interfaces; the twist is still a
# beam tilt per position (`fl.multilayer_supercell`). The figure and the result file say which
# (`"approximation"`).

# %% tags=["parameters"]
scale = "default"
seed = 0
step_nm = 1.0  # probe step along x [nm]; sets the layers' width in the supercell (labels only for columns)
approximation = None  # "column" or "supercell"; None: the scale's (cfg.evaluation.multilayer_model)
thickness_nm = 40.0  # specimen thickness [nm] (paper: 40 nm)
n_examples = 5  # example patterns shown per dataset
network = "fcunet"  # the network behind the learned finder: any shipped model of this scale (Table I's rows)
model_file = None  # a .keras file of that kind of network to use instead (e.g. a run checkpoint); None: the shipped one
correlation_options = {}  # extra find_disks_correlation options (e.g. notebook 06's tuned "correlation_options")
network_options = {}  # extra find_disks_fcunet peak options (e.g. notebook 06's tuned "network_options")

# %%
# Derive the sizes from the scale and load this scale's network, FCU-Net by default (≈ 3 s: Keras import).
import numpy as np
import pandas as pd

import fcunet_lib as fl
import fcunet_lib.disk_contrast
import fcunet_lib.multilayer
import fcunet_lib.multilayer_supercell
import fcunet_lib.plots.strain  # makes fl.plots.strain available
import fcunet_lib.plots.training  # MODEL_LABELS
import fcunet_lib.training_domain
import fcunet_lib.training_run

cfg = fl.config.get_scale(scale)
n_x, n_y = cfg.evaluation.scan_shape
pattern_size = cfg.simulation.pattern_size
pixel_size = fl.config.RECIPROCAL_PIXEL_SIZE  # patterns are simulated on the model's own grid
approximation = approximation or cfg.evaluation.multilayer_model
if approximation not in fl.config.MULTILAYER_MODELS:
    raise ValueError(f"approximation must be one of {fl.config.MULTILAYER_MODELS}; got {approximation!r}")
model = fl.training_run.load_network(scale, network, model_file=model_file)  # shipped ones sha256-checked
network_label = fl.plots.training.MODEL_LABELS[network]
sample = fl.multilayer.fig3_multilayer(n_x, step_nm=step_nm, thickness_nm=thickness_nm)
DATASETS = ("on_zone", "mistilt")
METHODS = fl.plots.strain.METHODS
print(f"scan {n_x} × {n_y} positions, patterns {pattern_size}² at {pixel_size:.4f} Å⁻¹/px; "
      f"{sample.n_layers} layers of {sample.layer_positions} positions + "
      f"{sample.substrate_positions} substrate positions; {approximation} model")
print(f"{network_label}:", model.card["command"], "| sha256", model.card["sha256"][:12])
# Where the beam lies outside what the network was trained on (fl.training_domain): one line each.
domain_warnings = fl.training_domain.card_warnings(model.card, energy_kv=sample.energy_kv,
                                                   semiangle_mrad=sample.semiangle_mrad)
print("outside the training library:", "; ".join(domain_warnings) or "nothing")

# %% [markdown]
# ## The sample
#
# The scan runs along the layer normal x from the far side (left) through the layers to the
# substrate (right), which is the strain reference, and along the interfaces in y. Layer 0
# touches the substrate. `expected e_xx` is what an ideal measurement reads in py4DSTEM's
# real-space convention, 1 − a_s/a_x: +0.990 % in the expanded Si₀.₅Ge₀.₅ layers and −1.010 %
# in the compressed Si layers, for lattice parameters exactly 1 % larger and smaller.

# %%
# Tabulate each position's layer, lattice and tilt (instant).
profile = fl.multilayer.layer_profile(sample)
twist = fl.multilayer.tilt_profile(sample, tilted=True)
expected_xx, expected_yy = fl.multilayer.expected_strain(sample)
pd.DataFrame({
    "x [nm]": profile["x_nm"], "region": profile["region"], "layer": profile["layer"],
    "a_x [Å]": profile["a_x_A"].round(5), "a_y = a_z [Å]": profile["a_yz_A"],
    "lattice strain [%]": 100 * profile["lattice_strain"], "expected e_xx [%]": (100 * expected_xx).round(4),
    "mistilt [°]": twist["magnitude_deg"].round(3), "tilt direction [°]": twist["azimuth_deg"].round(1),
})

# %% [markdown]
# ## Simulating the two datasets
#
# abTEM's multislice with the library's numerical setting (0.12 Å sampling, 2 Å slices), the
# pattern resampled to the model's grid of 1/46.08 Å⁻¹ pixels and cropped to the model's input
# size. In the column approximation three simulations cover the on-zone scan (substrate and the
# two layer kinds) and with the twist every column along x has its own tilt; in the supercell
# every position along x is its own run. Each simulation is stored in the scale's data folder, so
# a rerun simulates nothing and a killed one resumes.

# %%
# Simulate both datasets (columns: ≈ 3 s per distinct column on 2 cores; supercell: ≈ 5–20 s per
# position, growing with the stack's length; cached).
cache_dir = fl.config.scale_data_dir(scale) / "multilayer"
simulate_scan = {"column": fl.multilayer.simulate_scan,
                 "supercell": fl.multilayer_supercell.simulate_supercell_scan}[approximation]
scans = {name: simulate_scan(sample, n_y=n_y, tilted=name == "mistilt", pattern_size=pattern_size,
                             cache_dir=cache_dir)
         for name in DATASETS}
for name, scan in scans.items():
    print(f"{name}: {scan.n_unique} distinct simulations, {scan.n_simulated} simulated now, "
          f"data {scan.data.shape}")

# %% [markdown]
# ## Finding the disks
#
# Both finders run with their defaults: correlation with the paper's sigmoid kernel (radii r and
# 4r of the vacuum probe) and multicorr refinement; FCU-Net predicts the structure-factor image
# (averaging `mc_passes` Monte-Carlo dropout passes in each of `symmetry_frames` mirrored and
# rotated copies of the pattern, `fl.symmetry`) and reads its maxima. The patterns are on
# the model's pixel grid already, so nothing is resampled. The parameters `correlation_options`
# and `network_options` change the defaults, e.g. to the options notebook 06 tunes on validation
# patterns.
#
# The learned finder reads the prediction of the `network` parameter's model, FCU-Net by default;
# `-p network=spectral_unet` (or `unet`) puts another of Table I's networks in its place, through
# the same peak finder, and `-p model_file=PATH` a network of that kind trained elsewhere (a run
# checkpoint, another scale's model; the result file records its sha256).

# %%
# Detect the disks with both methods (≈ 1 s at smoke; ≈ 1–2 min at default on 2 cores).
bragg = {}
for name, scan in scans.items():
    bragg[name] = {
        "correlation": fl.find_disks_correlation(scan.data, scan.probe, pixel_size=pixel_size,
                                                 **correlation_options),
        "fcunet": fl.find_disks_fcunet(scan.data, scan.probe, model=model, pixel_size=pixel_size,
                                       mc_passes=cfg.evaluation.mc_passes,
                                       symmetry_frames=cfg.evaluation.symmetry_frames, **network_options),
    }
peaks_per_pattern = {name: {method: float(np.mean([len(bv.raw[i, j].data) for i in range(n_x)
                                                    for j in range(n_y)]))
                            for method, bv in found.items()} for name, found in bragg.items()}
peaks_per_pattern

# %% [markdown]
# ## Strain against the substrate
#
# `fl.strain_map` indexes the peaks on the two {111} reflections of the substrate, fits g1 and g2
# at every position and compares them with the median lattice of the substrate columns (the
# paper's reference: "the mean lattice measured from the substrate region on the right"). The
# origin is the pattern centre, exact here (a beam tilt leaves the direct disk centred). The
# RMS errors are taken over every fitted position in the layers against the expected profile.

# %%
# Fit the lattices and measure the strain (≈ 1 s per map).
strain = {name: {method: fl.multilayer.measure_strain(bv, sample, n_y=n_y, pixel_size=pixel_size)
                 for method, bv in found.items()} for name, found in bragg.items()}
pd.DataFrame([{"dataset": name, "method": method, "exx_rms [%]": outcome["exx_rms"],
               "eyy_rms [%]": outcome["eyy_rms"],
               "paper eyy_rms [%]": fl.plots.strain.PAPER_EYY_RMS[name][method],
               "fitted": f"{outcome['n_fitted']}/{outcome['n_layer_positions']}",
               "error": outcome["error"]}
              for name, by_method in strain.items() for method, outcome in by_method.items()])

# %% [markdown]
# ## Why both methods read the same offsets on zone
#
# At 40 nm the disks are not flat: dynamical diffraction grades the intensity across each disk,
# and how it does so depends on the composition (the structure factors of Si and Ge differ), so
# the layers and the substrate are graded differently. Any detector that weighs intensity is
# pulled towards the bright side. `disk_contrast_pull` measures this model-free, on the
# simulated patterns themselves: the shift of each disk's intensity centroid along its g, in
# percent of |g|, relative to the substrate's. A pull of +p % on the (0 2 2) disks, which lie
# along y, makes a centroid-like detector read ε_yy ≈ −p %.

# %%
# Measure each region's disk-contrast pull on the on-zone patterns (instant).
contrast_pull = fl.disk_contrast.disk_contrast_pull(scans["on_zone"], sample, pixel_size=pixel_size)
pd.DataFrame(contrast_pull["relative_to_substrate"]).T.rename(
    columns=lambda family: f"({family}) pull vs substrate [% of |g|]").round(2)

# %% [markdown]
# The pull comes with thickness. One multislice run per region, with exit planes every 2 nm,
# shows it: a few tenths of a percent up to ≈ 10 nm, several percent from ≈ 20 nm, oscillating
# as the beams exchange intensity (Pendellösung). A thin sample would hide the effect; the
# paper's 40 nm does not.

# %%
# Simulate the three on-zone columns as thickness series and read the pull at each (≈ 20 s; cached).
pull_series = fl.disk_contrast.contrast_pull_series(
    sample, np.arange(2.0, thickness_nm + 1.0, 2.0), pattern_size=pattern_size, cache_dir=cache_dir)
pull_figure = fl.plots.strain.plot_contrast_pull(pull_series, thickness_nm=thickness_nm)
pull_figure

# %% [markdown]
# ## How much of correlation's error is its weighting of intensity?
#
# py4DSTEM's correlation raises the magnitude of the pattern–kernel cross spectrum to `corrPower`
# before transforming back: 1 is plain cross-correlation (the paper's baseline, used above), 0 is
# phase correlation, which keeps only the phases and so follows the disks' edges rather than how
# their intensity is graded. Rerunning correlation on one row of each scan (every row holds the
# same patterns) with lower powers shows how much of the offset above is that weighting — and what
# it costs once the sample is tilted.

# %%
# Correlation with corrPower 1, 0.5 and 0 on one row of each scan (≈ 1 s per run at default).
CORR_POWERS = (1.0, 0.5, 0.0)
power_sweep = {}
for name, scan in scans.items():
    for power in CORR_POWERS:
        one_row = fl.find_disks_correlation(scan.data[:, :1], scan.probe, pixel_size=pixel_size, corrPower=power)
        outcome = fl.multilayer.measure_strain(one_row, sample, n_y=1, pixel_size=pixel_size)
        power_sweep.setdefault(name, {})[str(power)] = {
            key: outcome[key] for key in ("exx_rms", "eyy_rms", "n_fitted", "n_layer_positions", "error")}
pd.DataFrame([{"dataset": name, "corrPower": power, "exx_rms [%]": row["exx_rms"], "eyy_rms [%]": row["eyy_rms"],
               "fitted": f"{row['n_fitted']}/{row['n_layer_positions']}"}
              for name, rows in power_sweep.items() for power, row in rows.items()])

# %% [markdown]
# At the default scale, lowering the power removes most of the on-zone offset but not all of it,
# and with the twist phase correlation loses the lattice at most positions: the disks' edges are
# no more reliable than their centroids once the sample tilts. The figure below keeps the paper's
# cross-correlation.

# %% [markdown]
# ## Fig. 3

# %%
# Assemble the bright-field images and example patterns, and draw the figure (≈ 2 s).
examples_rx = fl.plots.strain.example_positions(sample, n_examples)
panels = {name: {"vbf": fl.multilayer.virtual_bright_field(scan.data, scan.probe),
                 "examples": {rx: scan.data[rx, n_y // 2] for rx in examples_rx},
                 "strain": strain[name]}
          for name, scan in scans.items()}
fig = fl.plots.strain.plot_fig3(sample, panels, n_y=n_y, approximation=approximation, network_label=network_label)
fig

# %% [markdown]
# For each dataset: (a) the virtual bright field — on zone it only changes with composition and
# strain; with the twist it changes from column to column — and (b) patterns at the marked
# positions; (c) ε_xx and ε_yy maps from correlation and FCU-Net; (d) the profiles along x, mean
# over y, against the expected square wave (black). The panel titles give the RMS errors in the
# layers next to the paper's. In both models every row of a map is the same pattern (a line
# scan), so the maps vary along x only.

# %%
# Write the figure and its numbers with provenance (instant).
def _rounded(values):
    return [None if not np.isfinite(v) else round(float(v), 6) for v in values]


numbers = {
    "approximation": approximation,
    "units": "percent",
    "datasets": {name: {method: {"exx_rms": outcome["exx_rms"], "eyy_rms": outcome["eyy_rms"],
                                 "n_fitted": outcome["n_fitted"],
                                 "n_layer_positions": outcome["n_layer_positions"],
                                 "error": outcome["error"],
                                 "profile_xx": _rounded(outcome["profile_xx"]),
                                 "profile_yy": _rounded(outcome["profile_yy"]),
                                 "peaks_per_pattern": peaks_per_pattern[name][method]}
                        for method, outcome in by_method.items()}
                 for name, by_method in strain.items()},
    "paper": {"eyy_rms": fl.plots.strain.PAPER_EYY_RMS,
              "note": "read from the paper's text; its own full-stack simulation"},
    "truth": {"x_nm": profile["x_nm"], "region": profile["region"].tolist(),
              "exx": 100 * expected_xx, "eyy": 100 * expected_yy,
              "lattice_strain": 100 * profile["lattice_strain"],
              "mistilt_deg": twist["magnitude_deg"], "tilt_direction_deg": twist["azimuth_deg"]},
    "sample": sample.to_dict(),
    "scan_shape": [n_x, n_y],
    "pattern_size": pattern_size,
    "n_simulations": {name: scan.n_unique for name, scan in scans.items()},
    "reference": "median lattice of the substrate positions",
    "disk_contrast_pull": {"values": contrast_pull, "thickness_series": pull_series,
                           "units": "percent of |g|",
                           "what": "outward shift of each disk's intensity centroid, on zone "
                                   "(fl.disk_contrast.disk_contrast_pull, contrast_pull_series)"},
    "correlation_power_sweep": {"values": power_sweep, "units": "percent",
                                "what": "RMS errors in the layers of correlation with py4DSTEM's corrPower "
                                        "(1 cross-correlation, 0 phase correlation), one row of each scan"},
    "mc_passes": cfg.evaluation.mc_passes,
    "symmetry_frames": cfg.evaluation.symmetry_frames,
    "network": network,  # whose predictions the "fcunet" entries (fl.find_disks_fcunet) read
    "model_file": None if model_file is None else str(model_file),  # None: the shipped network
    "training_domain_warnings": domain_warnings,  # where the beam lies outside the network's library
    "peak_options": {"correlation": dict(correlation_options), "fcunet": dict(network_options)},  # beyond the defaults
    "seed": seed,
}
results_path = fl.results.write_results(
    "fig3_strain_simulated", numbers, scale=scale, figure=fig, units="percent",
    data=f"simulated (abTEM multislice, {approximation} model)",
    models={network: model.card["sha256"]}, library_hash=model.card.get("library_hash"),
)
print("wrote", results_path)

# %%
# Check the run (instant). Smoke: only that everything ran and is well formed.
assert results_path.is_file()
if approximation == "column":
    assert scans["on_zone"].n_unique == len(set(fl.multilayer.column_specs(sample, tilted=False)))
assert scans["mistilt"].n_unique == n_x  # every column has its own tilt
assert set(power_sweep) == set(DATASETS) and all(len(rows) == len(CORR_POWERS) for rows in power_sweep.values())
for scan in scans.values():
    assert scan.data.shape == (n_x, n_y, pattern_size, pattern_size) and np.isfinite(scan.data).all()
    assert scan.data.min() >= 0 and abs(float(scan.probe.max()) - 1.0) < 1e-6
assert np.allclose(100 * expected_xx[profile["region"] == "Si0.50Ge0.50"], 100 * (1 - 1 / 1.01))
assert np.allclose(100 * expected_xx[profile["region"] == "Si"], 100 * (1 - 1 / 0.99))
for name in DATASETS:
    for method in METHODS:
        outcome = strain[name][method]
        for key in ("exx_rms", "eyy_rms"):
            assert outcome[key] is None or (np.isfinite(outcome[key]) and outcome[key] >= 0)
if scale != "smoke":
    # Trained models on 128² patterns: correlation must map the strain of every layer position,
    # and both methods must see the layers (sanity, not the paper's accuracy, which the JSON reports).
    for name in DATASETS:
        assert strain[name]["correlation"]["error"] is None
    on_zone = strain["on_zone"]["correlation"]
    assert on_zone["n_fitted"] == on_zone["n_layer_positions"]
    assert on_zone["exx_rms"] < 10.0 and on_zone["eyy_rms"] < 10.0
