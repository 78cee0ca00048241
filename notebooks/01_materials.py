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
# # 01 — Selecting the crystal systems (Fig. 6)
#
# FCU-Net is trained on a library of simulated diffraction patterns that must span many kinds
# of crystal. The paper builds it by comparing ≈ 139,000 Materials Project (MP) structures with
# more than 500 AFLOW crystallographic prototypes, and by sampling ≈ 1000 crystal systems that
# follow the resulting distribution of systems per prototype (Fig. 6a). Panels b–e show how
# varied the chemistry is within four prototypes: CaTiO₃ (perovskite), FeB, Fe₃C (cementite)
# and Zn₃P₂.
#
# **What this notebook uses instead of Materials Project.** MP needs an API key and network
# access, which a reproducible companion cannot assume. By default the crystal systems are
# generated from data shipped with pymatgen: the 288 prototypes of its copy of the AFLOW
# library are decorated with chemically plausible elements (data-mined ionic substitution
# probabilities of Hautier et al.), rescaled from the prototype's measured cell with atomic
# radii (reference lattice scaling), screened for too-short interatomic distances and
# unphysical volumes, de-duplicated, and sampled in proportion to each prototype's *estimated
# number of plausible decorations*. That weight is a
# **stand-in** for the number of MP structures per prototype: it reflects how many chemistries
# the substitution model admits for a structure type, not how many compounds are known. The
# figure and its JSON say so. With an `MP_API_KEY`, `fl.materials_online` redoes the paper's
# path on real MP structures (see the end of the notebook).

# %% tags=["parameters"]
scale = "default"
seed = 0

# %%
# Derive every size from the scale preset (instant).
import fcunet_lib as fl
import fcunet_lib.plots.materials  # noqa: F401  (makes fl.plots.materials available)

cfg = fl.config.get_scale(scale)
settings = cfg.materials
materials_dir = fl.config.scale_data_dir(scale) / "materials"  # also read by the simulation stage
print(settings)
print("table folder:", materials_dir)

# %% [markdown]
# ## The prototypes
#
# pymatgen holds 288 of the AFLOW prototypes, each with an example structure. We work in each
# prototype's conventional standard cell, so the lattice constants in the table are the familiar
# ones (Si: a = 5.431 Å, not the 3.84 Å of the primitive cell). Three of the paper's four
# example prototypes are in the library; **Zn₃P₂ (A3B2_tP40_137_cdf_3g) is not**, so Fig. 6e
# has no data here and says so.

# %%
# Load the prototype library and check which Fig. 6 prototypes it holds (≈ 3 s; cached).
library = fl.materials.prototype_library()
status = fl.materials.fig6_status()
print(f"{len(library)} prototypes; {sum(p.n_sites <= settings.max_sites for p in library)} "
      f"with at most {settings.max_sites} atoms in the conventional cell")
for name, info in status.items():
    print(f"{name:7s} {info['aflow']:24s} {'present' if info['present'] else info['note']}")

# %% [markdown]
# ## Decorating a prototype
#
# For an ionic compound such as the perovskite CaTiO₃, pymatgen assigns oxidation states
# (Ca²⁺, Ti⁴⁺, O²⁻) and lists every charge-balanced substitution whose probability exceeds the
# preset's threshold. Elements and intermetallics have no such assignment; there each element
# stands for its most frequently observed ion, a chemical-similarity proxy without charge
# balance.

# %%
# List the perovskite's substitutions above the threshold (≈ 1–4 s: pymatgen enumerates them).
perovskite = fl.materials.get_prototype("CaTiO3")
found = fl.materials.decorations(perovskite, threshold=settings.substitution_threshold)
print(f"{len(found)} decorations of {perovskite.key}; the most probable:")
for decoration in found[:8]:
    decorated = fl.materials.decorate(perovskite, decoration.mapping, rescale=False)
    formula = decorated.composition.reduced_formula
    print(f"  {formula:10s} p = {decoration.probability:.4f}  ({decoration.route})")

# %% [markdown]
# ## Selecting the systems
#
# For each chosen prototype (the Fig. 6 ones are always included) the prototype's own compound
# and a seeded random draw of its other decorations are built, rescaled and screened; duplicates
# across prototypes are removed with `StructureMatcher`. Then `n_systems` systems are drawn with
# each prototype weighted by its estimated number of plausible decorations. The table is saved
# to the git-ignored data folder and reused on a rerun with the same settings and seed. Named
# materials the later figures need (Si, Ge, h-BN and Si₀.₈₂Ge₀.₁₈ with its lattice constant from
# Vegard's law) are appended; they are not part of the sampled `n_systems`.

# %%
# Select the crystal systems, or reuse the saved table (≈ 10 s at smoke, ≈ 1 min at default).
table = fl.materials.ensure_materials(settings, materials_dir, seed=seed)
frame = table.to_dataframe()
print(f"{len(table.by_source('aflow-substitution'))} sampled systems + "
      f"{len(table.by_source('named'))} named materials, saved in {materials_dir}")
frame[["id", "formula", "prototype", "spacegroup", "a", "b", "c", "n_sites", "source"]].head(12)

# %%
# Show the named materials with their lattice constants (instant).
frame[frame.source == "named"][["id", "formula", "spacegroup", "a", "c", "n_sites"]]

# %% [markdown]
# ## Fig. 6

# %%
# Compute the figure's numbers from the table and draw it (≈ 1 s).
summary = fl.materials.prototype_summary(table)
fig = fl.plots.materials.plot_fig6(summary)
fig

# %% [markdown]
# Panel a ranks the prototypes by their share of the candidate distribution (grey) and shows that
# the sampled systems (blue) follow it; the black line is the cumulative coverage. Panels b–d
# show, for every plausible decoration of a prototype (histogram) and for the selected systems
# (markers), which atomic numbers sit on each site: as in the paper, one structure type carries
# elements from across the periodic table. Panel e is empty because pymatgen's library lacks the
# Zn₃P₂ prototype.

# %%
# Write the figure and its numbers with provenance (instant).
numbers = {
    **summary,
    "named": {m.id: {"formula": m.formula, "a": m.a, "c": m.c, "n_sites": m.n_sites}
              for m in table.by_source("named")},
    "units": {"lattice": "angstrom", "shares": "fraction"},
    "seed": seed,
}
results_path = fl.results.write_results(
    "fig6_materials", numbers, scale=scale, figure=fig,
    data="pymatgen AFLOW prototypes + substitution (Materials Project stand-in)",
)
print("wrote", results_path)

# %% [markdown]
# ## With a Materials Project key
#
# `fl.materials_online.select_materials_online(settings, seed=seed)` downloads MP summaries
# (structures up to `max_sites` atoms; needs `pip install mp-api` and `MP_API_KEY`), matches each
# structure to a pymatgen AFLOW prototype and samples `n_systems` of them following the number of
# MP structures per prototype — the paper's distribution. `fl.materials.prototype_summary` and
# `fl.plots.materials.plot_fig6` work unchanged on the result. Matching costs ≈ 0.1–0.4 s per
# structure, so a full download is an overnight job; record the response with `json.dump` and pass
# it back as `response=` to rerun without the network. It is not run here.

# %%
# Check the table against the preset (instant).
import numpy as np

sampled = table.by_source("aflow-substitution")
assert len(sampled) == settings.n_systems
assert sum(row["selected"] for row in summary["prototypes"]) == settings.n_systems
assert abs(summary["coverage"][-1] - 1.0) < 1e-9
assert all(m.n_sites <= settings.max_sites for m in sampled)
assert all(fl.materials.plausibility(m.structure).ok for m in sampled)
assert abs(table["named-Si"].a - 5.431) < 1e-9 and abs(table["named-Ge"].a - 5.658) < 1e-9
assert abs(table["named-h-BN"].a - 2.504) < 1e-9 and abs(table["named-h-BN"].c - 6.661) < 1e-9
assert abs(table["named-Si0.82Ge0.18"].a - 2 * fl.materials.vegard_lattice_constant(0.18)) < 1e-9
for name in ("CaTiO3", "FeB", "Fe3C"):
    assert summary["fig6"][name]["present"] and summary["fig6"][name]["n_systems"] >= 1, name
assert not summary["fig6"]["Zn3P2"]["present"] and "no data" in summary["fig6"]["Zn3P2"]["note"]
if scale != "smoke":
    # Enough systems for the sample to follow the distribution it was drawn from.
    shares = np.array([[r["weight_share"], r["selected_share"]] for r in summary["prototypes"]])
    assert np.corrcoef(shares.T)[0, 1] > 0.4
    assert summary["n_prototypes_selected"] >= settings.n_systems // 4
assert results_path.is_file()
