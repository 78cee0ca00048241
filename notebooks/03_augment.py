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
# # 03 — Augmenting the simulated patterns (Fig. 1b)
#
# A simulated CBED pattern is cleaner than any measured one. To make FCU-Net robust against
# real experimental conditions, the paper augments every training pattern with "several forms
# of noise typically found in 4D-STEM data": (i) elliptic distortion and (ii) random
# translations of the pattern (projector-lens distortion, descan), (iii) an incoherent
# background modelled as plasmonic signal, (iv) shot noise from Poisson counting statistics,
# and (v) hot and dead pixels (X-rays, detector defects) (Fig. 1b). The geometric
# augmentations must move the target with the pattern: the network is asked where the
# structure factors are in *this* pattern.
#
# `fcunet_lib.augment` implements the five as small seeded functions. Distortion and shift are
# one affine map, applied to the CBED pattern and the target alike (the probe, recorded centred
# through the same optics, gets the distortion but not the shift). The background is a
# Lorentzian 1/(q² + q_L²) convolved with the probe and mixed in with weight w, keeping the
# total intensity. Shot noise reads the pattern as a probability map for a dose drawn
# log-uniformly between 10⁵ and 10¹⁰ electrons, and scales the counts back, so every pixel
# keeps its expected value. Hot pixels are set to 2–10 times the pattern's maximum, dead ones
# to zero. In training, each augmentation is applied with probability 0.8, with a generator
# seeded from (seed, epoch, triplet index), so the same seed gives the same batch on any worker.
#
# Here each augmentation is applied alone to one training triplet from the scale's library,
# then all five together exactly as training draws them, and the properties they promise are
# measured.

# %% tags=["parameters"]
scale = "default"
seed = 0  # seed of the materials and the library plan (as in notebooks 01–02)
augment_seed = 0  # seed of every augmentation draw
triplet_material = None  # crystal system of the triplet; None: the first on-zone training job
low_dose = 1e5  # electrons per pattern of the low-dose shot-noise panel
high_dose = 1e8  # electrons per pattern of the high-dose shot-noise panel
noise_draws = 200  # shot-noise draws averaged in the mean-preservation check

# %%
# Derive every size from the scale preset (instant).
import fcunet_lib as fl
import fcunet_lib.library_plan  # noqa: F401  (makes fl.library_plan available)
import fcunet_lib.plots.augment  # noqa: F401  (makes fl.plots.augment available)

cfg = fl.config.get_scale(scale)
settings = fl.augment.AugmentSettings()
print(f"scale {cfg.name}: {cfg.simulation.pattern_size}² patterns")
print(settings)

# %% [markdown]
# ## One training triplet
#
# The library of notebook 02 is reused: when it is complete, `ensure_library` only plans again
# and finds every job finished.
# The triplet is a CBED pattern from the middle of an on-zone thickness series of a crystal
# system in the training split, its vacuum probe and its structure-factor target.

# %%
# Reuse the scale's library (planning only: seconds at smoke, tens of seconds at default; smoke
# builds it in ≈ 1–3 min if notebook 02 has not run) and load one training triplet (< 1 s).
built = fl.library_plan.ensure_library(scale, seed=seed)
lib = fl.library.open_library(built["folder"])
library_hash = fl.library.library_hash(built["folder"])
triplet = fl.plots.augment.pick_triplet(lib, split="train", zone="on_zone",
                                        material_id=triplet_material)
descriptors = {k: v for k, v in triplet.items() if k not in ("cbed", "probe", "target")}
print(f"library {library_hash}; triplet:", descriptors)
print(f"disk radius {fl.plots.augment.disk_radius_px(triplet['probe']):.2f} px")

# %% [markdown]
# ## The five augmentations
#
# The distortion and the background draw their parameters from the training ranges; the two
# shot-noise panels use a low and a high dose; the bad-pixel panel uses the largest fraction of
# the training range (0.1 %), so that a few are visible even in a small pattern. The last panel
# is `augment_triplet` with every augmentation switched on and the generator that training uses
# for triplet 0 of epoch 0.

# %%
# Apply each augmentation alone, then all together (≈ 1 s).
gallery = fl.plots.augment.augmentation_gallery(
    triplet["cbed"], triplet["probe"], triplet["target"], settings=settings, seed=augment_seed,
    doses=(low_dose, high_dose))
params = fl.plots.augment.gallery_parameters(gallery)
for name, drawn in params.items():
    print(f"{name:16s} {drawn}")

# %% [markdown]
# ## Fig. 1b

# %%
# Draw the gallery (≈ 2 s).
fig = fl.plots.augment.plot_fig1b(gallery, triplet=triplet)
fig

# %% [markdown]
# The distortion stretches the pattern by a few percent along one direction and moves it by up
# to two pixels: the second row shows the disks' edges moving, and in the third row the target
# spots have left the white circles that mark where they were — by the same amount as the
# disks. The plasmon background fills the space between the disks with a smooth halo centred
# on the direct beam and takes the same intensity out of the disks. At 10⁵ electrons the
# pattern is grainy and the weak disks are barely above the counting noise; at 10⁸ the noise is
# only visible in the difference. Hot pixels far brighter than any disk and dead pixels are
# circled. The last column is one draw of the training distribution: doses are log-uniform
# over five decades and bad-pixel fractions uniform up to 0.1 %, so most training patterns are
# mildly degraded and only some are as noisy as the fourth column. The target never sees
# background, noise or bad pixels: the network learns to ignore them.

# %% [markdown]
# ## Checking what the augmentations promise
#
# The checks are measured on this triplet, not assumed. Distortion: the strongest isolated
# target peaks are located before and after (sub-pixel centroids) and compared with the drawn
# affine map; their CBED disks (centroids within the disk radius + 1 px, for disks bright
# enough to locate) must move by the same amount. The median mismatch is reported next to a
# control, the mismatch the same measurement gives if the disks had not moved; single disks
# that overlap brighter neighbours can be off by more, hence the median. Background: the total
# intensity. Shot noise: the mean of many draws against the original (its RMS z-score is ≈ 1
# when the mean is unbiased and the scatter Poisson-limited) and the draws' variance against
# Poisson's. Seeds: a small batch augmented twice with the same seed, and once with another.

# %%
# Measure the properties on the triplet (≈ 1–5 s: noise_draws Poisson draws).
checks = fl.plots.augment.augmentation_checks(gallery, draws=noise_draws)
for name, values in checks.items():
    print(f"{name:11s} {values}")

# %%
# Write the figure and its numbers with provenance (instant).
numbers = {
    "triplet": descriptors,
    "settings": gallery["settings"],
    "seed": seed,
    "augment_seed": augment_seed,
    "params": params,
    "checks": checks,
    "units": {"shift": "pixels", "angle": "rad", "background_q": "pixels",
              "dose": "electrons per pattern", "displacement": "pixels",
              "thickness": "nm", "semiangle": "mrad"},
}
results_path = fl.results.write_results("fig1b_augment", numbers, scale=scale, figure=fig,
                                        library_hash=library_hash, data="simulated")
print("wrote", results_path)

# %%
# Check the augmentations' properties (instant).
import math

distortion = checks["distortion"]
noise = checks["shot_noise"]
assert triplet["split"] == "train" and triplet["zone"] == "on_zone"
assert [p["name"] for p in gallery["panels"]] == [
    "original", "distortion", "background", "shot_noise_low", "shot_noise_high", "bad_pixels",
    "combined"]
# Parameters lie in the training ranges; the combined panel applied all five.
assert 0 <= params["distortion"]["ellipticity"] <= settings.max_ellipticity
assert all(abs(s) <= settings.max_shift_px for s in params["distortion"]["shift_px"])
low, high = settings.background_weight
assert low <= params["background"]["background_weight"] <= high
assert set(params["combined"]) == {"ellipticity", "angle_rad", "shift_px", "background_weight",
                                   "background_q_px", "dose", "bad_pixel_fraction"}
assert settings.dose_range[0] <= params["combined"]["dose"] <= settings.dose_range[1]
# The target moves with the pattern: peaks follow the drawn map, disks follow the peaks (the
# control shows how large the mismatch would be if the disks had stayed put).
assert distortion["n_peaks"] >= 1 and distortion["n_disks"] >= 1
assert distortion["max_target_error_px"] < 0.1
assert distortion["median_target_minus_disk_displacement_px"] < 0.2
assert (distortion["median_target_minus_disk_displacement_px"]
        < 0.25 * distortion["median_unmoved_disk_mismatch_px"])
assert distortion["probe_centroid_shift_px"] < 1e-3
# Background keeps the total; shot noise keeps the mean, with Poisson scatter.
assert abs(checks["background"]["total_ratio"] - 1) < 1e-9
assert abs(noise["total_ratio"] - 1) < 5 / math.sqrt(noise["dose"] * noise["draws"])
assert abs(noise["mean_z_rms"] - 1) < 0.15
assert abs(noise["variance_ratio"] - 1) < 0.1
# Same seed, same batch; another seed, another batch.
assert checks["seed"]["same_seed_same_batch"] and checks["seed"]["other_seed_differs"]
assert results_path.is_file()
