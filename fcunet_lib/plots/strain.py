"""Fig. 3: strain maps of the simulated Si/SiGe multilayer, correlation vs FCU-Net.

Plots only: the sample comes from :mod:`fcunet_lib.multilayer`, the strain
outcomes from :func:`fcunet_lib.multilayer.measure_strain`.
"""

from __future__ import annotations

import numpy as np

from fcunet_lib import multilayer

__all__ = ["METHODS", "METHOD_LABELS", "method_labels", "DATASET_LABELS", "PAPER_EYY_RMS", "APPROXIMATION_NOTES",
           "example_positions", "plot_fig3", "plot_contrast_pull"]

#: Methods in the order they are drawn.
METHODS = ("correlation", "fcunet")
METHOD_LABELS = {"correlation": "correlation", "fcunet": "FCU-Net"}
#: Titles of the two datasets.
DATASET_LABELS = {"on_zone": "on zone [011]", "mistilt": "helical mistilt"}
#: RMS ε_yy in the multilayer region read from the paper's text [percent]
#: (on zone: "≈ 0.2 %" and "≤ 0.02 %"; mistilt: "≈ 0.6 %" and "< 0.1 %").
PAPER_EYY_RMS = {"on_zone": {"correlation": 0.2, "fcunet": 0.02},
                 "mistilt": {"correlation": 0.6, "fcunet": 0.1}}
_PAPER_EYY_TEXT = {"on_zone": {"correlation": "≈ 0.2 %", "fcunet": "≤ 0.02 %"},
                   "mistilt": {"correlation": "≈ 0.6 %", "fcunet": "< 0.1 %"}}
#: Colour limits of the strain maps [percent].
STRAIN_LIMIT = 2.0
_COLOURS = {"correlation": "tab:orange", "fcunet": "tab:blue"}


def example_positions(sample, count: int = 5) -> list[int]:
    """Up to ``count`` rx positions spread over the scan, one per region where possible.

    The first and last positions and evenly spaced ones between (rounded,
    duplicates removed), so the substrate and both ends of the twist are shown.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    n = sample.n_positions
    return sorted({round(v) for v in np.linspace(0, n - 1, min(count, n))})


#: How each multilayer model is described on Fig. 3.
APPROXIMATION_NOTES = {
    "column": "column approximation: every probe position is a bulk virtual crystal with its local "
              "lattice and tilt (no interfaces)",
    "supercell": "supercell: a line scan across the whole stack and its interfaces (virtual-crystal "
                 "layers; the twist as a beam tilt per position; the line repeated along y)",
}


def method_labels(network_label: str = "FCU-Net") -> dict:
    """Method key → label; the ``"fcunet"`` key's label names the network behind the learned finder."""
    return {**METHOD_LABELS, "fcunet": network_label}


def plot_fig3(sample, datasets: dict, *, n_y: int, approximation: str = "column", network_label: str = "FCU-Net"):
    """Draw Fig. 3 for the datasets given (``on_zone``, ``mistilt``).

    Parameters
    ----------
    sample : fcunet_lib.multilayer.Multilayer
    datasets : dict
        Dataset name → ``{"vbf": (Rx, Ry) array, "examples": {rx: pattern},
        "strain": {method: measure_strain outcome}}``.
    n_y : int
        Positions along the interfaces.
    approximation : str
        How the patterns were simulated (a key of :data:`APPROXIMATION_NOTES`),
        said in the title.
    network_label : str
        Name of the network behind the ``"fcunet"`` entries (any shipped
        network can read the patterns, Table I's rows).

    Returns
    -------
    matplotlib.figure.Figure
        Per dataset two rows: (a) virtual bright field with the example
        positions marked, (b) the example patterns (log scale); (c) ε_xx and
        ε_yy maps from correlation and FCU-Net [percent], (d) line profiles
        along x (mean over y) against the expected strain, with the RMS errors
        in the layers and the paper's values.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(17, 6.2 * len(datasets)), layout="constrained")
    rows = figure.subfigures(len(datasets), 1, squeeze=False)[:, 0]
    for row, (name, content) in zip(rows, datasets.items()):
        _dataset_block(row, name, content, sample, n_y, method_labels(network_label))
    figure.suptitle(
        f"Fig. 3 — simulated Si / Si$_{{0.5}}$Ge$_{{0.5}}$ multilayer on Si$_{{0.75}}$Ge$_{{0.25}}$ "
        f"(a = {sample.substrate_a_A} Å), [011], {sample.energy_kv:g} kV, {sample.semiangle_mrad:g} mrad, "
        f"{sample.thickness_nm:g} nm\n{APPROXIMATION_NOTES[approximation]}; strain against the substrate "
        "(right), py4DSTEM's real-space convention",
        fontsize=11)
    return figure


def _dataset_block(subfigure, name, content, sample, n_y, labels):
    grid = subfigure.add_gridspec(2, 6, height_ratios=(1.0, 1.15))
    label = DATASET_LABELS.get(name, name)
    if name == "mistilt":
        label += f" {sample.tilt_deg[0]:g}° → {sample.tilt_deg[1]:g}°"
    subfigure.suptitle(label, fontsize=12, fontweight="bold")
    examples = content["examples"]
    _panel_vbf(subfigure.add_subplot(grid[0, 0]), content["vbf"], sorted(examples), sample)
    for number, (rx, pattern) in enumerate(sorted(examples.items())[:5], start=1):
        _panel_pattern(subfigure.add_subplot(grid[0, number]), pattern, rx, number, sample, name)
    strain = content["strain"]
    column = 0
    for method in METHODS:
        for component in ("e_xx", "e_yy"):
            _panel_map(subfigure.add_subplot(grid[1, column]), strain[method], component, labels[method], sample)
            column += 1
    truth = [100 * t for t in multilayer.expected_strain(sample)]
    for component, expected in zip(("xx", "yy"), truth):
        _panel_profile(subfigure.add_subplot(grid[1, column]), strain, component, expected, sample, name, labels)
        column += 1


def _panel_vbf(ax, image, marked, sample):
    ax.imshow(np.asarray(image).T, origin="lower", cmap="gray", aspect="auto",
              extent=_extent(sample, image.shape[1]))
    x = (np.asarray(marked) + 0.5) * sample.step_nm
    ax.plot(x, np.full(len(x), image.shape[1] * sample.step_nm / 2), "o", mfc="none", mec="tab:red", ms=7)
    for i, xi in enumerate(x):
        ax.annotate(str(i + 1), (xi, image.shape[1] * sample.step_nm / 2), xytext=(0, 6),
                    textcoords="offset points", color="tab:red", ha="center", fontsize=8)
    _interface(ax, sample)
    ax.set_title("virtual bright field", fontsize=9)
    ax.set_xlabel("x [nm]", fontsize=8)
    ax.set_ylabel("y [nm]", fontsize=8)
    ax.tick_params(labelsize=7)


def _panel_pattern(ax, pattern, rx, number, sample, name):
    image = np.log10(np.clip(np.asarray(pattern, float), 1e-5, None))
    ax.imshow(image.T, origin="lower", cmap="magma", vmin=-4, vmax=0)
    profile = multilayer.layer_profile(sample)
    title = f"{number}: {profile['region'][rx]}, x = {profile['x_nm'][rx]:g} nm"
    if name == "mistilt":
        tilt = multilayer.tilt_profile(sample, tilted=True)
        title += f"\n{tilt['magnitude_deg'][rx]:.1f}° @ {tilt['azimuth_deg'][rx]:.0f}°"
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_map(ax, outcome, component, method_label, sample):
    values = np.asarray(outcome[component])
    label = f"{method_label} ε$_{{{component[-2:]}}}$ [%]"
    if outcome["error"] is not None or not np.isfinite(values).any():
        ax.text(0.5, 0.5, "strain map failed:\n" + _wrap(outcome["error"] or "no position fitted"),
                ha="center", va="center", fontsize=7, transform=ax.transAxes, wrap=True)
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    import matplotlib

    colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.55")
    shown = ax.imshow(values.T, origin="lower", cmap=colours, vmin=-STRAIN_LIMIT, vmax=STRAIN_LIMIT,
                      aspect="auto", extent=_extent(sample, values.shape[1]))
    _interface(ax, sample)
    if not np.isfinite(values).all():
        label += "\n(grey: lattice fit failed)"
    ax.set_title(label, fontsize=9)
    ax.set_xlabel("x [nm]", fontsize=8)
    ax.tick_params(labelsize=7)
    colourbar = ax.figure.colorbar(shown, ax=ax, shrink=0.8, extend="both")
    colourbar.ax.tick_params(labelsize=7)


def _panel_profile(ax, strain, component, expected, sample, name, labels):
    x = multilayer.layer_profile(sample)["x_nm"]
    ax.step(x, expected, where="mid", color="black", lw=1.5, label="expected")
    notes = []
    for method in METHODS:
        outcome = strain[method]
        profile = np.asarray(outcome[f"profile_{component}"])
        if np.isfinite(profile).any():
            ax.plot(x, profile, "o-", ms=3.5, lw=1.0, color=_COLOURS[method], label=labels[method])
        rms = outcome[f"e{component}_rms"]
        note = f"{labels[method]}: " + ("failed" if rms is None else f"{rms:.2f} %")
        if component == "yy" and name in _PAPER_EYY_TEXT:
            note += f" (paper {_PAPER_EYY_TEXT[name][method]})"
        notes.append(note)
    _interface(ax, sample)
    ax.axhline(0, color="0.7", lw=0.6)
    ax.set_title(f"ε$_{{{component}}}$ mean over y; RMS error in the layers\n" + "\n".join(notes), fontsize=8)
    ax.set_xlabel("x [nm]", fontsize=8)
    ax.set_ylabel(f"ε$_{{{component}}}$ [%]", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="best")


def plot_contrast_pull(series: dict, *, thickness_nm: float, families=("111", "022")):
    """Disk-contrast pull against the substrate versus thickness, one panel per family.

    Parameters
    ----------
    series : dict
        From :func:`fcunet_lib.disk_contrast.contrast_pull_series`.
    thickness_nm : float
        The sample's thickness, marked on each panel [nm].
    families : sequence of str
        Reflection families to draw (keys of
        :data:`fcunet_lib.disk_contrast.PULL_REFLECTIONS`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.2), squeeze=False,
                             sharey=True, constrained_layout=True)
    for ax, family in zip(axes[0], families):
        for region, by_family in series["relative_to_substrate"].items():
            ax.plot(series["thickness_nm"], by_family[family], "o-", ms=3, lw=1.2, label=region)
        ax.axhline(0, color="0.7", lw=0.6)
        ax.axvline(thickness_nm, color="0.3", ls="--", lw=0.8, label=f"sample ({thickness_nm:g} nm)")
        ax.set_title(f"({family}) disks: centroid pull vs substrate", fontsize=9)
        ax.set_xlabel("thickness [nm]", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("pull [% of |g|]", fontsize=8)
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.suptitle("Simulated (abTEM, on zone, column approximation): dynamical disk contrast", fontsize=9)
    return fig


def _extent(sample, n_y):
    return (0.0, sample.n_positions * sample.step_nm, 0.0, n_y * sample.step_nm)


def _interface(ax, sample):
    """Dashed line between the layers and the substrate."""
    edge = sample.n_layers * sample.layer_positions * sample.step_nm
    ax.axvline(edge, color="0.3", ls="--", lw=0.8)


def _wrap(text, width=32):
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width))[:200]
