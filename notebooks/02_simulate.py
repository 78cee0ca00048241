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
# # 02 — The dynamical diffraction library (Fig. 1a)
#
# FCU-Net learns to turn a measured CBED pattern back into the structure factors that produced
# it, so it is trained on pairs where both are known: multislice simulations. The paper
# simulates thousands of crystal systems "at various thicknesses, tilts, and microscope
# conditions" (Fig. 1a): for each system five low-index zone axes and five random orientations,
# thicknesses up to 50 nm, three probe convergence semiangles, 300 kV, 256² patterns at
# 0.0217 Å⁻¹. Each CBED pattern comes with its vacuum probe (the second input of the network)
# and with its target: the projected structure factors |V_g|, weighted by how far each
# reflection lies from a flat Ewald sphere (a Gaussian of σ = 0.05 Å⁻¹ in the excitation
# error).
#
# Here one *job* is one abTEM multislice run — one crystal system, one orientation, one probe —
# whose exit planes give the whole thickness series at the cost of its thickest member. Each
# zone axis is simulated exactly on zone and once more with a small random mistilt (the
# off-zone set of Table I), and each system also gets random orientations. Systems, not
# patterns, are split into training, validation and test sets, so no crystal seen in training
# appears in a test. The scale preset decides how many of everything; the numerical setting of
# the simulation (sampling, slices, static lattice) is the same at every scale and is recorded
# with the library.

# %% tags=["parameters"]
scale = "default"
seed = 0
example_material = "named-Si"  # crystal system followed through the example panels

# %%
# Derive every size from the scale preset (instant).
import fcunet_lib as fl
import fcunet_lib.library_plan  # noqa: F401  (makes fl.library_plan available)
import fcunet_lib.plots.library  # noqa: F401  (makes fl.plots.library available)

cfg = fl.config.get_scale(scale)
sim = cfg.simulation
print(sim)
print(fl.simulate.DEFAULT_SETTING)

# %% [markdown]
# ## Building the library
#
# `ensure_library` selects the crystal systems (notebook 01; reused if saved), plans every job
# (orientations, mistilts, semiangles and splits, all seeded) and runs the unfinished jobs on a
# local Dask cluster, one process per core. The library lives in `data/<scale>/library-<digest>`,
# named by a digest of its plan, so a changed plan never mixes with an old library and an
# unchanged one is found again. Every finished job is written with checksums before it is
# recorded; a killed build resumes where it stopped. The cost model of
# `fl.library.estimate_cost` (one multislice run per job, linear in its largest thickness and
# 2.4x dearer for a random orientation's larger supercell, calibrated on the default build's
# recorded CPU time) prices the plan before anything runs; `fcunet library --scale paper --dry-run` prices the
# paper's (slowly: it first selects and orients the paper's ≈ 1000 crystal systems).

# %%
# Build, resume or reuse the scale's library (smoke: ≈ 1–3 min on 2 cores; default: ≈ 35 min
# from scratch on 2 free cores — `fcunet library --scale default` builds it ahead — and only the planning, tens of
# seconds, once built).
built = fl.library_plan.ensure_library(scale, seed=seed)
folder = built["folder"]
estimate = built["estimate"]
print(f"library folder: {folder}")
print(f"this run: {built['build']['ran']} jobs simulated, {built['build']['done']} of "
      f"{built['build']['total']} done")
print(f"estimated cost of the plan (fl.library.estimate_cost, 2 workers): {estimate['jobs']} "
      f"jobs, {estimate['patterns']} patterns, {estimate['storage_gb']:.3f} GB before "
      f"compression, {estimate['hours']:.2f} h")

# %%
# Open the library and count what it holds (instant: reads the manifest, not the arrays).
lib = fl.library.open_library(folder)
library_hash = fl.library.library_hash(folder)
summary = fl.plots.library.library_summary(lib)
print(f"library {library_hash}: {summary['n_patterns']} patterns from {summary['n_jobs']} jobs, "
      f"{summary['n_materials']} crystal systems, {summary['n_prototypes']} prototypes")
print("patterns per split:", summary["patterns_per_split"])
print("jobs per orientation:", summary["jobs_per_orientation"])
print("simulation setting:", summary["simulation_setting"])

# %% [markdown]
# ## What varies across the library
#
# One crystal system is followed through: its on-zone pattern at the thinnest, middle and
# thickest thickness, the same zone axis mistilted, and a random orientation; then on-zone
# patterns at the library's other convergence semiangles. Patterns and probes are divided by
# the vacuum probe's maximum, so the direct disk of a thin crystal is ≈ 1 and the sum of a
# pattern over the sum of its probe is the fraction of the electrons that land inside the
# stored window. Reading a job re-checks its checksums.

# %%
# Load the example jobs from the library (checksum-verified reads; < 1 s).
panels = fl.plots.library.example_panels(lib, material_id=example_material)
for panel in panels:
    print(f"job {panel['job_index']:4d}  {panel['kind']:9s} {panel['material']:8s} "
          f"{panel['orientation']:9s} tilt {panel['tilt_mrad']} mrad, "
          f"α = {panel['semiangle_mrad']:g} mrad, t = {panel['thickness_nm']:g} nm, "
          f"{100 * panel['fraction_in_window']:.1f} % of the electrons in the window")

# %% [markdown]
# ## Fig. 1a

# %%
# Draw the examples and the library statistics (≈ 2 s).
fig = fl.plots.library.plot_fig1a(panels, summary, library_hash=library_hash)
fig

# %% [markdown]
# The top rows show the dynamical effects the network has to undo: along the thickness series
# the disk intensities and the fine structure inside the disks change (multiple scattering),
# while the target only grows linearly with thickness and keeps its spots fixed; a mistilt of a
# few tens of mrad makes the disks lopsided and moves intensity between them while the target
# spots stay at the same g (their amplitudes follow the tilted Ewald sphere); a random
# orientation gives a sparse, irregular pattern. Larger
# semiangles give larger disks, which overlap for closely spaced reflections. The bottom row
# counts the patterns: splits disjoint by crystal system, the prototypes, the thickness series,
# the mistilts of the off-zone copies (up to the preset's largest mistilt) and the semiangles.

# %%
# Write the figure and its numbers with provenance (instant).
numbers = {
    **summary,
    "examples": fl.plots.library.panel_descriptors(panels),
    "estimate": estimate,
    "seed": seed,
    "units": {"thickness": "nm", "tilt": "mrad", "semiangle": "mrad", "energy": "kV",
              "reciprocal_pixel": "1/angstrom", "sampling": "angstrom", "storage": "GB",
              "estimate_time": "hours", "patterns": "count"},
}
results_path = fl.results.write_results("fig1a_library", numbers, scale=scale, figure=fig,
                                        library_hash=library_hash, data="simulated")
print("wrote", results_path)

# %%
# Check the library against the preset (instant).
import math

import numpy as np

n_thick = len(sim.thicknesses_nm)
orientations = summary["jobs_per_orientation"]
assert summary["complete"] and summary["n_jobs"] == built["jobs"]
assert summary["n_patterns"] == summary["n_jobs"] * n_thick
assert summary["thickness_nm"]["values"] == [float(t) for t in sim.thicknesses_nm]
assert summary["thickness_nm"]["patterns"] == [summary["n_jobs"]] * n_thick
assert set(summary["semiangle_mrad"]["values"]) <= set(sim.semiangles_mrad)
assert summary["energy_kv"] == [sim.energy_kv]
assert sum(summary["patterns_per_split"].values()) == summary["n_patterns"]
per_orientation = summary["n_materials"] * sim.semiangles_per_orientation
assert orientations["random"] == per_orientation * sim.random_orientations_per_system
assert 0 < orientations["on_zone_axis"] <= per_orientation * sim.zone_axes_per_system
assert (orientations["mistilted_zone_axis"]
        == orientations["on_zone_axis"] * sim.mistilts_per_zone_axis)
tilt = summary["mistilt_mrad"]
mrad_per_deg = 1000 * math.pi / 180
assert sim.min_off_zone_deg * mrad_per_deg - 1e-3 <= tilt["min"]
assert tilt["max"] <= sim.max_mistilt_deg * mrad_per_deg + 1e-3
assert sum(tilt["counts"]) == orientations["mistilted_zone_axis"]
# Splits are disjoint by crystal system.
by_split = {s: {r["material_id"] for r in lib.records_where(split=s)}
            for s in ("train", "validation", "test")}
assert all(by_split.values())
assert not (by_split["train"] & by_split["validation"])
assert not (by_split["train"] & by_split["test"])
assert not (by_split["validation"] & by_split["test"])
# The examples: finite, non-negative patterns; the target grows linearly with thickness.
for panel in panels:
    for key in ("cbed", "target", "probe"):
        assert np.isfinite(panel[key]).all() and panel[key].min() >= 0, (panel["job_index"], key)
    assert abs(panel["probe"].max() - 1) < 1e-3 and panel["fraction_in_window"] <= 1 + 1e-3
series = [p for p in panels if p["kind"] == "thickness"]
ratio = series[-1]["target"].sum() / series[-2]["target"].sum()
assert abs(ratio / (series[-1]["thickness_nm"] / series[-2]["thickness_nm"]) - 1) < 0.05
assert {p["kind"] for p in panels} >= {"thickness", "tilt"}
if scale != "smoke":
    # Enough systems for every split, zone and semiangle to be well represented.
    assert set(summary["semiangle_mrad"]["values"]) == set(sim.semiangles_mrad)
    assert min(summary["materials_per_split"].values()) >= 10
    assert summary["n_prototypes"] >= 20
assert results_path.is_file()
