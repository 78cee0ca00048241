"""Fig. 5: strain in a thick Si / Si₀.₈₂Ge₀.₁₈ multilayer, correlation vs FCU-Net.

Plots only: the stand-in comes from :mod:`fcunet_lib.sige`, the strain
outcomes from :func:`fcunet_lib.sige.measure_strain`.
"""

from __future__ import annotations

import textwrap

import numpy as np

from fcunet_lib.plots.strain import METHODS, STRAIN_LIMIT, method_labels

__all__ = ["plot_fig5"]

_COLOURS = {"correlation": "tab:orange", "fcunet": "tab:cyan"}
_PROFILE_COLOURS = {"correlation": "tab:orange", "fcunet": "tab:blue"}
_PAPER_TEXT = {"exx_rms": {"correlation": "≈ 0.72 %", "fcunet": "≈ 0.25 %"},
               "eyy_rms": {"correlation": "≈ 0.3 %", "fcunet": "≈ 0.15 %"}}


def plot_fig5(*, x_nm, y_nm, maps: dict, examples: list, strain: dict, reference, expected_xx=None,
              layer_edges_nm=None, title: str, tag: str, network_label: str = "FCU-Net"):
    """Draw Fig. 5.

    Parameters
    ----------
    x_nm, y_nm : ndarray
        Position centres along the layer normal and along the interfaces [nm].
    maps : dict
        ``"vbf"`` (Rx, Ry) and, each None when unknown, ``"composition"``
        (Ge fraction), ``"thickness"`` (relative to the mean), ``"tilt"``
        (beam tilt magnitude [mrad]).
    examples : list of dict
        ``{"rx", "ry", "label", "pattern" (Qx, Qy) counts, "peaks": {method:
        structured array with qx, qy, intensity}}``.
    strain : dict
        Method → :func:`fcunet_lib.sige.measure_strain` outcome.
    reference : ndarray of bool (Rx, Ry)
        The strain reference (shaded in the profiles).
    expected_xx : ndarray (Rx,), optional
        Expected ε_xx profile [percent] (eq. 6); ε_yy is expected 0.
    layer_edges_nm : ndarray (n_layers, 2), optional
        Drawn as light bands on the profiles.
    title : str
        First line of the figure title.
    tag : str
        Data source in every section title (e.g. ``"simulated stand-in"``).
    network_label : str
        Name of the network behind the ``"fcunet"`` entries.

    Returns
    -------
    matplotlib.figure.Figure
        (a) virtual bright field with the example positions, (b) composition,
        (c) relative thickness, (c′) beam tilt of the bend; (d–f) example
        patterns with correlation (e) and FCU-Net (f) peaks; (g, h) strain
        maps [percent]; (i) ε_xx and ε_yy profiles (mean over y) against the
        expectation, with RMS errors and the paper's.
    """
    from matplotlib.figure import Figure

    x_nm, y_nm = np.asarray(x_nm, float), np.asarray(y_nm, float)
    extent = (0.0, x_nm[-1] + x_nm[0], 0.0, y_nm[-1] + y_nm[0])
    figure = Figure(figsize=(18, 17), layout="constrained")
    top, middle, lower, bottom = figure.subfigures(4, 1, height_ratios=(2.3, 6.2, 2.3, 3.6))
    _maps_row(top, maps, examples, extent, tag)
    labels = method_labels(network_label)
    _patterns_block(middle, examples, tag, labels)
    _strain_row(lower, strain, extent, tag, labels)
    _profiles_row(bottom, x_nm, strain, reference, expected_xx, layer_edges_nm, tag, labels)
    figure.suptitle(title, fontsize=12)
    return figure


def _maps_row(subfigure, maps, examples, extent, tag):
    subfigure.suptitle(f"(a–c) the sample — {tag}", fontsize=11, fontweight="bold")
    axes = subfigure.subplots(1, 4)
    panels = (("vbf", "(a) virtual bright field", "gray", None),
              ("composition", "(b) Ge fraction", "viridis", (0.0, None)),
              ("thickness", "(c) relative thickness t / ⟨t⟩", "cividis", None),
              ("tilt", "(c′) beam tilt of the bend [mrad]", "magma", (0.0, None)))
    for ax, (key, label, cmap, limits) in zip(axes, panels):
        image = maps.get(key)
        if image is None:
            _empty(ax, label, "not known for these data")
            continue
        low, high = limits if limits else (None, None)
        shown = ax.imshow(np.asarray(image, float).T, origin="lower", cmap=cmap, aspect="auto", extent=extent,
                          vmin=low, vmax=high)
        _axes_nm(ax, label)
        subfigure.colorbar(shown, ax=ax, shrink=0.85).ax.tick_params(labelsize=7)
        if key == "vbf":
            _mark_examples(ax, examples, extent)


def _mark_examples(ax, examples, extent):
    width = extent[1]
    for number, example in enumerate(examples, start=1):
        x, y = example["x_nm"], example["y_nm"]
        ax.plot(x, y, "o", mfc="none", mec="tab:red", ms=7)
        ax.annotate(str(number), (x, y), xytext=(0, 6), textcoords="offset points", color="tab:red",
                    ha="center", fontsize=8)
    ax.set_xlim(0, width)


def _patterns_block(subfigure, examples, tag, labels):
    subfigure.suptitle(f"(d–f) example patterns (log counts) with the disks found — {tag}", fontsize=11,
                       fontweight="bold")
    columns = max(1, len(examples))
    axes = subfigure.subplots(len(METHODS), columns, squeeze=False)
    for row, method in enumerate(METHODS):
        letter = "e" if method == "correlation" else "f"
        for column in range(columns):
            ax = axes[row, column]
            if column >= len(examples):
                ax.set_axis_off()
                continue
            example = examples[column]
            pattern = np.asarray(example["pattern"], float)
            ax.imshow(np.log10(pattern + 1.0).T, origin="lower", cmap="gray", vmin=0.0,
                      vmax=max(np.log10(pattern.max() + 1.0), 1e-6))
            peaks = example["peaks"][method]
            if len(peaks):
                size = 8 + 60 * np.sqrt(np.clip(peaks["intensity"] / max(peaks["intensity"].max(), 1e-30), 0, 1))
                if method == "fcunet":
                    ax.scatter(peaks["qx"], peaks["qy"], s=size, marker="o", facecolors="none",
                               edgecolors=_COLOURS[method], linewidths=0.9)
                else:
                    ax.scatter(peaks["qx"], peaks["qy"], s=size, marker="+", c=_COLOURS[method], linewidths=0.9)
            ax.set_title(f"({letter}{column + 1}) {labels[method]}: {len(peaks)} peaks\n{example['label']}",
                         fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])


def _strain_row(subfigure, strain, extent, tag, labels):
    import matplotlib

    subfigure.suptitle(f"(g) correlation and (h) {labels['fcunet']} strain maps [%] against the Si reference — {tag}",
                       fontsize=11, fontweight="bold")
    axes = subfigure.subplots(1, 4)
    colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.55")
    panels = [(method, component) for method in METHODS for component in ("e_xx", "e_yy")]
    for ax, (method, component) in zip(axes, panels):
        outcome = strain[method]
        label = f"{'(g)' if method == 'correlation' else '(h)'} {labels[method]} ε$_{{{component[-2:]}}}$"
        values = np.asarray(outcome[component], float)
        if outcome["error"] is not None or not np.isfinite(values).any():
            _empty(ax, label, "strain map failed: " + str(outcome["error"] or "no position fitted"))
            continue
        shown = ax.imshow(values.T, origin="lower", cmap=colours, vmin=-STRAIN_LIMIT, vmax=STRAIN_LIMIT,
                          aspect="auto", extent=extent)
        if not np.isfinite(values).all():
            label += " (grey: fit failed)"
        _axes_nm(ax, label)
        subfigure.colorbar(shown, ax=ax, shrink=0.85, extend="both").ax.tick_params(labelsize=7)


def _profiles_row(subfigure, x_nm, strain, reference, expected_xx, layer_edges, tag, labels):
    subfigure.suptitle(f"(i) mean strain across the layers (mean over y) — {tag}", fontsize=11,
                       fontweight="bold")
    axes = subfigure.subplots(1, 2)
    reference_x = x_nm[np.asarray(reference).any(axis=1)]
    expectations = {"xx": expected_xx, "yy": np.zeros_like(x_nm)}
    for ax, component in zip(axes, ("xx", "yy")):
        if layer_edges is not None:
            for left, right in np.asarray(layer_edges):
                ax.axvspan(left, right, color="0.92", lw=0)
        if len(reference_x):
            ax.axvspan(reference_x[0] - (x_nm[1] - x_nm[0] if len(x_nm) > 1 else 0.5) / 2,
                       x_nm[-1] + x_nm[0], color="tab:green", alpha=0.08, lw=0, label="reference (Si)")
        expected = expectations[component]
        if expected is not None:
            label = "expected (Vegard + Poisson, eq. 6)" if component == "xx" else "expected (coherent layers)"
            ax.step(x_nm, expected, where="mid", color="black", lw=1.6, label=label)
        notes = []
        for method in METHODS:
            outcome = strain[method]
            profile = np.asarray(outcome[f"profile_{component}"], float)
            if np.isfinite(profile).any():
                ax.plot(x_nm, profile, "-", marker="o", ms=2.5, lw=1.0, color=_PROFILE_COLOURS[method],
                        label=labels[method])
            rms = outcome[f"e{component}_rms"]
            value = "n/a" if rms is None else f"{rms:.2f} %"
            notes.append(f"{labels[method]} {value} (paper {_PAPER_TEXT[f'e{component}_rms'][method]})")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_title(f"ε$_{{{component}}}$; RMS error outside the reference: " + "; ".join(notes), fontsize=8.5)
        ax.set_xlabel("x along the layer normal [nm]", fontsize=8)
        ax.set_ylabel(f"ε$_{{{component}}}$ [%]", fontsize=8)
        ax.set_xlim(0, x_nm[-1] + x_nm[0])
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="best")


def _axes_nm(ax, label):
    ax.set_title(label, fontsize=9)
    ax.set_xlabel("x [nm]", fontsize=8)
    ax.set_ylabel("y [nm]", fontsize=8)
    ax.tick_params(labelsize=7)


def _empty(ax, label, text):
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(str(text), 40))[:240], ha="center", va="center", fontsize=8,
            transform=ax.transAxes)
    ax.set_title(label, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
