"""Fig. 4: strain maps of single-crystal h-BN with four probes, correlation vs FCU-Net.

Plots only: the scans come from :mod:`fcunet_lib.hbn` (stand-in or real
files), the strain outcomes from :func:`fcunet_lib.hbn_strain.measure_strain`.
"""

from __future__ import annotations

import numpy as np

from fcunet_lib import hbn, hbn_strain
from fcunet_lib.plots.strain import METHOD_LABELS, METHODS, method_labels

__all__ = [
    "COMPONENT_LABELS",
    "LIMITS",
    "METHODS",
    "METHOD_LABELS",
    "PAPER_NOTES",
    "PAPER_NUMBERS",
    "plot_fig4",
]

#: Labels of the strain components.
COMPONENT_LABELS = {"e_xx": "ε$_{xx}$ [%]", "e_yy": "ε$_{yy}$ [%]", "e_xy": "ε$_{xy}$ [%]", "theta": "θ [°]"}
#: Colour limits of the maps: ±1.5 % for strain, ±1.5° for θ.
LIMITS = {"e_xx": 1.5, "e_yy": 1.5, "e_xy": 1.5, "theta": 1.5}
#: What the paper's text says of its experimental maps [percent]: systematic error = mean,
#: random error = standard deviation ("random_max": the largest over the components).
PAPER_NUMBERS = {
    "circular_12mrad": {"correlation": {"systematic": -1.1}, "fcunet": {"systematic_over_correlation": 1 / 3}},
    "circular_3.4mrad": {"correlation": {"random": 0.10}, "fcunet": {"random": 0.13}},
    "circular_0.86mrad": {"correlation": {"random_max": 1.0}, "fcunet": {"random_max": 0.25}},
}
#: The same, as short notes under the column titles.
PAPER_NOTES = {
    "bullseye_3.4mrad": "paper: both ≈ 0",
    "circular_0.86mrad": "paper: means ≈ 0;\nstd ≲ 1 % (corr.), 0.25 % (FCU-Net)",
    "circular_3.4mrad": "paper: corr. ε$_{xx}$, ε$_{yy}$ > 0;\nstd 0.10 % (corr.), 0.13 % (FCU-Net)",
    "circular_12mrad": "paper: corr. ≈ −1.1 %;\nFCU-Net ≈ 3× smaller",
}


def plot_fig4(mean_patterns: dict, outcomes: dict, *, data_label: str, fields: dict | None = None,
              network_label: str = "FCU-Net"):
    """Draw Fig. 4.

    Parameters
    ----------
    mean_patterns : dict
        Probe name (:data:`fcunet_lib.hbn.PROBES`) → mean diffraction pattern (N, N).
    outcomes : dict
        Method → probe name → :func:`fcunet_lib.hbn_strain.measure_strain` outcome.
    data_label : str
        Where the data come from, shown in every title (e.g. "simulated stand-in").
    fields : dict, optional
        ``thickness_nm`` (Rx, Ry) and ``tilt_mrad`` (Rx, Ry, 2) of a stand-in,
        drawn next to the mean patterns.
    network_label : str
        Name of the network behind the ``"fcunet"`` outcomes.

    Returns
    -------
    matplotlib.figure.Figure
        (a) mean patterns (log scale) [and the stand-in's thickness and tilt];
        (b) correlation and (c) FCU-Net maps: rows ε_xx, ε_yy, ε_xy, θ,
        columns the probes; each map has its mean ± standard deviation inset.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(22, 14.5), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=(1.0, 3.6))
    _row_a(top, mean_patterns, fields, data_label)
    blocks = bottom.subfigures(1, 2, wspace=0.02)
    for block, method, letter in zip(blocks, METHODS, "bc"):
        _maps_block(block, outcomes.get(method, {}), method_labels(network_label)[method], letter, data_label)
    figure.suptitle(
        f"Fig. 4 — single-crystal h-BN [001], {hbn.ENERGY_KV:g} kV, four probes — {data_label}\n"
        "true strain 0 everywhere; reference: mean lattice of the bullseye scan (per method); "
        "inset: mean (systematic error) ± standard deviation (random error); py4DSTEM's real-space convention",
        fontsize=12)
    return figure


def _row_a(subfigure, mean_patterns, fields, data_label):
    count = len(hbn.PROBES) + (2 if fields is not None else 0)
    axes = subfigure.subplots(1, count)
    for ax, spec in zip(axes, hbn.PROBES):
        pattern = np.asarray(mean_patterns[spec.name], float)
        image = np.log10(np.clip(pattern / max(pattern.max(), 1e-30), 1e-4, None))
        ax.imshow(image.T, origin="lower", cmap="magma", vmin=-4, vmax=0)
        ax.set_title(f"mean pattern, {spec.label}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if fields is not None:
        _field(axes[-2], fields["thickness_nm"], "thickness [nm]", "viridis")
        _field(axes[-1], np.hypot(*np.moveaxis(np.asarray(fields["tilt_mrad"]), -1, 0)),
               "tilt magnitude [mrad]", "cividis")
    subfigure.suptitle(f"(a) mean diffraction patterns — {data_label}", fontsize=11, fontweight="bold")


def _field(ax, values, title, cmap):
    shown = ax.imshow(np.asarray(values).T, origin="lower", cmap=cmap)
    ax.set_title(f"stand-in {title}", fontsize=9)
    ax.set_xlabel("rx", fontsize=8)
    ax.set_ylabel("ry", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.figure.colorbar(shown, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)


def _maps_block(subfigure, by_probe, method_label, letter, data_label):
    import matplotlib

    colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.6")
    axes = subfigure.subplots(len(hbn_strain.COMPONENTS), len(hbn.PROBES), squeeze=False)
    for row, component in enumerate(hbn_strain.COMPONENTS):
        shown = None
        for column, spec in enumerate(hbn.PROBES):
            ax = axes[row, column]
            outcome = by_probe.get(spec.name)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{spec.label}\n{PAPER_NOTES[spec.name]}", fontsize=8)
            if column == 0:
                ax.set_ylabel(COMPONENT_LABELS[component], fontsize=10)
            if outcome is None or outcome["error"] is not None:
                reason = "not run" if outcome is None else outcome["error"]
                ax.text(0.5, 0.5, "no map:\n" + _wrap(reason), ha="center", va="center", fontsize=7,
                        transform=ax.transAxes)
                continue
            limit = LIMITS[component]
            shown = ax.imshow(outcome["maps"][component].T, origin="lower", cmap=colours, vmin=-limit,
                              vmax=limit)
            stats = outcome["stats"][component]
            text = "no fit" if stats is None else f"{stats['mean']:+.2f} ± {stats['std']:.2f}"
            ax.text(0.03, 0.04, text, transform=ax.transAxes, fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
        if shown is not None:
            bar = subfigure.colorbar(shown, ax=list(axes[row]), shrink=0.85, extend="both")
            bar.ax.tick_params(labelsize=7)
    subfigure.suptitle(f"({letter}) {method_label} — {data_label}", fontsize=11, fontweight="bold")


def _wrap(text, width=28):
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width))[:160]
