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
# # 04 — The three networks and their training (Fig. 7)
#
# The paper compares three convolutional networks that map a CBED pattern and its vacuum probe
# to the structure-factor image of the crystal (Table I): a real-valued **U-Net**, the same
# U-Net with **spectral pooling** (downsampling by cropping the centre of the spectrum, Rippel
# et al.), and **FCU-Net**. FCU-Net (Fig. 7) first multiplies the Fourier transform of the
# pattern with the conjugate transform of the probe — a Fourier-space cross-correlation that
# makes the network aware of the probe's shape —, then runs a U-Net of *complex* convolutions
# (eq. 2–3) with the complex ReLU (eq. 4) on that complex map, and returns to real space with an
# inverse FFT before a small real head.
#
# All three share one skeleton here (`fl.models`), so they differ only where the paper says they
# do; the real networks get √2 times the channels of the complex one, which gives them about the
# same number of parameters. They are trained the authors' way (Adam with the Noam warm-up/decay
# learning rate, the five augmentations of notebook 03 drawn afresh every epoch) on the library
# of notebook 02, with the crystal systems of the validation and test splits never seen in
# training — with one departure at the `default` scale: the loss. The authors' plain MSE, in
# the ~2,300 steps a laptop affords, learns only the direct beam (the targets are ≈ 0.5 %
# spot pixels), so `default` weights each pixel's squared error by 1 + 100·y/max(y), giving the
# diffracted spots a say (`fl.train.spot_weights`). The `paper` scale keeps the plain MSE.
#
# Two more departures at `default`, both about the empty background that fills most of a target.
# Each target is divided by its own maximum, the direct beam (`target_norm="pattern_max"`): the
# network's input carries no absolute intensity (the Fourier layer normalises it), so it cannot
# know the thickness-proportional scale a single global factor leaves in. And the networks end in
# a clip at zero whose gradient passes straight through (`output_activation="rectified"`,
# `fl.layers.RectifiedOutput`): structure factors are non-negative, and the clip turns whatever
# the network leaves below zero in the background into exact zeros, which SSIM and peak finding
# reward. A model card records both (`options.target_norm`, `architecture.output_activation`) and
# its `command` names them when they are not the scale's: the shipped U-Net and spectral U-Net
# were trained before these became the default (see the README).
#
# **Which models this notebook shows.** At the `default` scale it reads the models shipped in
# `models/` (trained with `fcunet train --scale default --model <name>` and the options their
# cards' commands name; retraining takes hours on a laptop). At every other scale it trains the scale's own models
# into `data/<scale>/models/` when they are missing (at `smoke`, a few seconds each), so the
# figure says which ones it shows. Set `retrain = True` to train again from scratch; an interrupted
# run resumes from its folder `data/<scale>/runs/<name>-seed<seed>-<library>-net<digest>/`, which
# is keyed by the library and by the network's builder options, so weights are never shipped with
# another library's hash or resumed into another network.

# %% tags=["parameters"]
scale = "default"
seed = 0
retrain = False

# %%
# Derive every size from the scale preset (instant).
import fcunet_lib as fl
import fcunet_lib.plots.training  # makes fl.plots.training available
import fcunet_lib.training_run  # not among fl's lazily loaded modules

cfg = fl.config.get_scale(scale)
models_folder = fl.training_run.scale_models_dir(scale)
print(cfg.training)
print("models folder:", models_folder)

# %% [markdown]
# ## The architectures
#
# Each network is built at the scale's size and described from its own layers: the width
# (channels; complex channels for FCU-Net) and spatial size of every level, the input step, the
# pooling, and the output step. The arithmetic cost counts convolutions and FFTs per pattern: a
# complex convolution is one real convolution with a 2×2 block kernel, so FCU-Net does about
# twice the arithmetic of a real U-Net with the same number of parameters.

# %%
# Build the three untrained networks as the scale trains them and read their structure (≈ 5 s;
# no training).
archs = [fl.plots.training.architecture_summary(
             fl.models.build_model(name, **fl.training_run.network_options(scale, name)))
         for name in fl.models.MODEL_NAMES]
for arch in archs:
    widths = " → ".join(f"{level['width']}@{level['size']}²" for level in arch["levels"])
    print(f"{arch['name']:14s} {arch['domain']:7s} {arch['pooling']:8s} pool  "
          f"{arch['parameters']:>10,d} parameters  {arch['gflop']:8.3f} GFLOP  {widths}")

# %% [markdown]
# ## Training
#
# `fl.training_run.train_and_ship` builds (or reuses) the scale's library, trains in a resumable
# run folder (a killed run continues from its last finished epoch), scores the validation split
# and writes the model with its card: architecture, library hash, the exact command, seed,
# training time and machine, the loss curves and the validation SSIM.

# %%
# Train the models that are missing (seconds each at smoke; hours at default, where the shipped
# models are normally used instead), then read every card (instant).
trained_now = []
for name in fl.models.MODEL_NAMES:
    if retrain or name not in fl.model_store.shipped_models(folder=models_folder):
        fl.training_run.train_and_ship(scale, name, seed=seed, fresh=retrain)
        trained_now.append(name)
cards = {name: fl.model_store.read_card(name, folder=models_folder)
         for name in fl.models.MODEL_NAMES}
provenance = fl.plots.training.models_provenance(scale, trained_now=trained_now)
recipes, recipe_warning = fl.plots.training.training_recipes(cards)
if recipe_warning:
    provenance += "; " + recipe_warning
training = {name: fl.plots.training.training_summary(card) for name, card in cards.items()}
print(provenance)
for name, facts in training.items():
    print(f"{name:14s} {facts['epochs']} epochs, {facts['training_seconds']:.0f} s on "
          f"{facts['machine']}; val loss {facts['final']['val_loss']:.3g}, val SSIM "
          f"{facts['validation_ssim']}")

# %% [markdown]
# ## Fig. 7

# %%
# Draw the schematics, curves and table (≈ 2 s).
fig = fl.plots.training.plot_fig7(archs, cards, provenance=provenance, scale=scale)
fig

# %% [markdown]
# Panels a–c draw each network from its own layers: the U shape of encoder levels (down, by
# 2× pooling), bottleneck and decoder levels (up, with skip concatenations), the numbers above
# the blocks are their channels. Only FCU-Net has the orange Fourier steps at both ends and
# complex (purple) blocks in between; the spectral U-Net differs from the U-Net only in its
# pooling. Panels d–e show the training (solid) and validation (dashed) loss per epoch, and the
# table gives the cost and the validation SSIM of each network. At the smoke scale the networks
# see a few dozen patterns for one epoch: the curves and scores only show that the pipeline
# runs. Table I (notebook 05) scores the held-out test split.

# %%
# Write the figure and its numbers with provenance (instant).
library_hash = fl.plots.training.common_library_hash(cards)
numbers = {
    "architectures": {arch["name"]: arch for arch in archs},
    "training": training,
    "models": provenance,
    "recipes": recipes,
    "trained_now": trained_now,
    "units": {"gflop": "1e9 floating-point operations per pattern (forward pass)",
              "training_seconds": "s",
              "loss": (f"{fl.plots.training.loss_label(cards)} of "
                       f"{fl.plots.training.target_label(cards)}"),
              "sizes": "pixels"},
    "seed": seed,
}
results_path = fl.results.write_results(
    "fig7_training", numbers, scale=scale, figure=fig,
    models={name: card["sha256"] for name, card in cards.items()}, library_hash=library_hash,
)
print("wrote", results_path)

# %%
# Check the networks and their cards against the preset (instant).
import math

for arch in archs:
    card = cards[arch["name"]]
    output = fl.training_run.output_activation_of(card)  # the card's own, maybe not the scale's
    padding = fl.training_run.fourier_padding_of(card)
    skip = fl.training_run.correlation_skip_of(card)
    assert {**card["architecture"], "output_activation": output} == fl.training_run.architecture(
        scale, output_activation=output, fourier_padding=padding, correlation_skip=skip), arch["name"]
    assert card["parameters"] == arch["parameters"], arch["name"]
    assert [level["size"] for level in arch["levels"]] == [
        cfg.simulation.pattern_size // 2**level for level in range(cfg.training.levels + 1)]
    assert arch["convs_per_block"] == cfg.training.convs_per_block
    assert arch["gflop"] > 0
assert [a["domain"] for a in archs] == ["real", "real", "complex"]
assert [a["pooling"] for a in archs] == ["max", "spectral", "max"]
assert archs[2]["fourier_input"] and archs[2]["inverse_fft"]
assert not any(a["fourier_input"] or a["inverse_fft"] for a in archs[:2])
# Matched budgets: parameters within 10 %; the complex network costs more arithmetic.
counts = [a["parameters"] for a in archs]
assert max(counts) / min(counts) < 1.1
assert archs[2]["gflop"] > archs[0]["gflop"]
for name, facts in training.items():
    assert facts["epochs"] == cfg.training.epochs, name
    assert all(math.isfinite(v) for v in facts["final"].values()), name
    assert facts["training_seconds"] > 0, name
    assert cards[name]["scale"] == cfg.name, name
if scale != "smoke":
    # Trained long enough to learn something: validation loss fell and SSIM is useful.
    for name, card in cards.items():
        assert card["curves"]["val_loss"][-1] < card["curves"]["val_loss"][0], name
        assert training[name]["validation_ssim"]["on_zone"] > 0.3, name
assert results_path.is_file()
