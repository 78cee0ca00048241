"""Fig. 7 (the three networks and their training) and Table I (SSIM on the test split).

Computing and plotting are separate. For Fig. 7, :func:`architecture_summary`
reads a built network's own structure (widths and spatial sizes per level,
input and output steps, parameters, forward FLOPs) and
:func:`training_summary` reads the model cards; :func:`plot_fig7` draws the
U-shaped schematics, the loss curves and a table. For Table I,
:func:`select_test_patterns`, :func:`pattern_ssim`, :func:`ssim_breakdown`
and :func:`table1_numbers` compute, :func:`plot_table1` draws.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

__all__ = [
    "MODEL_LABELS",
    "PAPER_TABLE1",
    "architecture_summary",
    "check_same_plan",
    "common_library_hash",
    "models_provenance",
    "training_recipes",
    "pattern_ssim",
    "pattern_subset",
    "pick_examples",
    "plot_fig7",
    "plot_table1",
    "select_test_patterns",
    "ssim_breakdown",
    "table1_examples",
    "table1_numbers",
    "training_summary",
]

#: Table I of the paper (SSIM of predicted vs true structure-factor images),
#: the published values, for comparison only.
PAPER_TABLE1 = {
    "unet": {"on_zone": 0.923, "off_zone": 0.750},
    "spectral_unet": {"on_zone": 0.926, "off_zone": 0.781},
    "fcunet": {"on_zone": 0.948, "off_zone": 0.880},
}
#: Names of the networks as the paper writes them.
MODEL_LABELS = {"unet": "U-Net", "spectral_unet": "U-Net (spectral)", "fcunet": "FCU-Net"}
#: One colour per network, in every panel.
MODEL_COLORS = {"unet": "tab:blue", "spectral_unet": "tab:green", "fcunet": "tab:purple"}
#: Loss-curve keys of a card, as Keras names them.
CURVE_KEYS = ("loss", "val_loss", "mean_absolute_error", "val_mean_absolute_error")
#: Dynamic range of the logarithmic colour scale of structure-factor images.
TARGET_DECADES = 2.5
CBED_DECADES = 4.0

_ZONES = ("on_zone", "off_zone")
_REAL_COLOR, _COMPLEX_COLOR, _FOURIER_COLOR = "#9ecae1", "#c7a4e0", "#fdae6b"


# --------------------------------------------------------------------------- #
# Fig. 7: numbers
# --------------------------------------------------------------------------- #
def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _block_width(layer) -> tuple[int, int, bool]:
    """(channels, spatial size, complex?) of a block from its first convolution."""
    from fcunet_lib import layers as fl_layers

    is_complex = isinstance(layer, fl_layers.ComplexConv2D)
    _, size, _, channels = layer.output.shape
    return (channels // 2 if is_complex else channels), int(size), is_complex


def architecture_summary(model) -> dict:
    """Describe a network built by :func:`fcunet_lib.models.build_model`.

    Everything is read from the model's layers (named ``enc<l>_conv<i>``,
    ``pool<l>``, ``bottleneck_conv<i>``, ``dec<l>_conv<i>``, ``head_conv<i>``,
    ``fourier``, ``inverse_fourier``), so the schematic cannot drift from the
    code.

    Parameters
    ----------
    model : keras.Model
        One of the three networks of Table I.

    Returns
    -------
    dict
        ``name``, ``input_size`` [pixels], ``domain`` (``"complex"`` or
        ``"real"``), ``fourier_input`` and ``inverse_fft`` (bool), ``pooling``
        (``"max"`` or ``"spectral"``), ``correlation_skip`` (bool: the head
        also gets the Fourier layer's cross-correlation map), ``convs_per_block``, ``levels`` (one
        dict per encoder level and the bottleneck: ``level``, ``width``
        channels — complex channels in a complex network —, ``size``
        [pixels]), ``head_width``, ``parameters`` and ``gflop`` (forward
        pass per pattern, :func:`fcunet_lib.models.forward_flops` / 1e9).

    Raises
    ------
    ValueError
        If the model lacks the layers of the shared U-Net skeleton.
    """
    from fcunet_lib import layers as fl_layers
    from fcunet_lib import models

    if _layer(model, "enc0_conv0") is None or _layer(model, "bottleneck_conv0") is None:
        raise ValueError(f"model {model.name!r} has no enc0_conv0/bottleneck_conv0 layer: "
                         "expected a network built by fcunet_lib.models")
    levels, level = [], 0
    while (conv := _layer(model, f"enc{level}_conv0")) is not None:
        width, size, is_complex = _block_width(conv)
        levels.append({"level": level, "width": width, "size": size})
        level += 1
    width, size, _ = _block_width(model.get_layer("bottleneck_conv0"))
    levels.append({"level": level, "width": width, "size": size, "bottleneck": True})
    pool = _layer(model, "pool0")
    convs = sum(1 for layer in model.layers if layer.name.startswith("enc0_conv"))
    return {
        "name": model.name,
        "input_size": int(model.inputs[0].shape[1]),
        "domain": "complex" if is_complex else "real",
        "fourier_input": _layer(model, "fourier") is not None,
        "inverse_fft": _layer(model, "inverse_fourier") is not None,
        "correlation_skip": _layer(model, "correlation_map") is not None,
        "pooling": "spectral" if isinstance(pool, fl_layers.SpectralPooling2D) else "max",
        "convs_per_block": convs,
        "levels": levels,
        "head_width": int(model.get_layer("head_conv0").output.shape[-1]),
        "parameters": int(model.count_params()),
        "gflop": models.forward_flops(model) / 1e9,
    }


def _final(curves: dict, key: str):
    values = curves.get(key) or []
    return float(values[-1]) if values else None


def training_summary(card: dict) -> dict:
    """The training facts of one model card.

    Parameters
    ----------
    card : dict
        A card from :func:`fcunet_lib.model_store.read_card`.

    Returns
    -------
    dict
        ``epochs``, ``final`` (last value of each curve: ``loss``,
        ``val_loss`` — MSE of targets × ``target_scale`` —, the MAEs),
        ``training_seconds``, ``seconds_per_epoch``, ``validation_ssim``
        (``on_zone``, ``off_zone``), ``parameters``, ``train_patterns``,
        ``validation_patterns``, ``machine`` (one line), ``scale``,
        ``command``.
    """
    curves = card.get("curves") or {}
    epochs = len(curves.get("loss") or [])
    seconds = float(card.get("training_seconds", 0.0))
    ssim = (card.get("validation") or {}).get("ssim") or {}
    machine = card.get("machine") or {}
    return {
        "epochs": epochs,
        "final": {key: _final(curves, key) for key in CURVE_KEYS},
        "training_seconds": seconds,
        "seconds_per_epoch": seconds / epochs if epochs else None,
        "validation_ssim": {zone: ssim.get(zone) for zone in _ZONES},
        "parameters": card.get("parameters"),
        "train_patterns": card.get("train_patterns"),
        "validation_patterns": card.get("validation_patterns"),
        "machine": f"{machine.get('processor') or '?'}, {machine.get('cores', '?')} cores",
        "scale": card.get("scale"),
        "command": card.get("command"),
    }


def models_provenance(scale: str, *, trained_now=()) -> str:
    """One line saying which models a figure shows.

    ``default`` models are the shipped ones in ``models/``; any other scale
    has its own models in ``data/<scale>/models/``, which are not shipped.
    """
    if scale == "default":
        kind = "the shipped default-scale models (models/)"
    else:
        kind = f"{scale}-scale models (data/{scale}/models/), not the shipped ones"
    if trained_now:
        kind += "; trained in this run: " + ", ".join(MODEL_LABELS.get(n, n) for n in trained_now)
    return kind


def training_recipes(cards: dict) -> tuple[dict, str]:
    """How each model's targets and output were set, and a warning when they differ.

    Parameters
    ----------
    cards : dict
        Network -> model card.

    Returns
    -------
    recipes : dict
        Network -> ``{"target_norm", "output_activation", "command"}``.
    warning : str
        ``""`` when every model was trained the same way; otherwise one line
        naming the groups, since then a table of them compares recipes as
        well as architectures.
    """
    from fcunet_lib.evaluation import target_norm_of
    from fcunet_lib.training_run import output_activation_of

    recipes = {name: {"target_norm": target_norm_of(card),
                      "output_activation": output_activation_of(card),
                      "command": card.get("command")} for name, card in cards.items()}
    groups: dict = {}
    for name, recipe in recipes.items():
        key = (recipe["target_norm"], recipe["output_activation"])
        groups.setdefault(key, []).append(MODEL_LABELS.get(name, name))
    if len(groups) < 2:
        return recipes, ""
    parts = [f"{', '.join(names)}: {norm} targets, {output} output"
             for (norm, output), names in groups.items()]
    return recipes, "trained differently, not like for like (" + "; ".join(parts) + ")"


def common_library_hash(cards: dict) -> str:
    """The library hash of the models' training data, for a result file.

    Models trained on one library share its hash, which is returned. The
    same plan rebuilt on another machine holds the same crystal-system
    splits in arrays that differ in their last bits, hence another hash: if
    every card names the same ``split_digest``, the hashes are returned as
    ``"name=hash"`` pairs joined by ``", "`` (what a reader needs to know),
    not an error.

    Raises
    ------
    ValueError
        If the models were trained on different libraries whose splits are
        not known to be the same.
    """
    hashes = {name: card.get("library_hash") for name, card in cards.items()}
    if len(set(hashes.values())) == 1:
        return next(iter(hashes.values()))
    digests = {card.get("split_digest") for card in cards.values()}
    if len(digests) != 1 or None in digests:
        raise ValueError(f"the models were trained on different libraries {hashes}: retrain "
                         "them on one library (notebook 04 with retrain=True)")
    return ", ".join(f"{name}={value}" for name, value in hashes.items())


# --------------------------------------------------------------------------- #
# Fig. 7: drawing
# --------------------------------------------------------------------------- #
def _box(ax, x, y, width, height, color, text=None, *, fontsize=6, rotation=0, hatch=None):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.05", facecolor=color,
                                edgecolor="0.25", linewidth=0.7, hatch=hatch))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, rotation=rotation)


def _arrow(ax, start, end, color="0.3", style="-|>", linestyle="-", lw=0.9):
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": style, "color": color, "lw": lw,
                            "linestyle": linestyle, "shrinkA": 1, "shrinkB": 1})


def _box_size(level: dict, input_size: int, top_width: int) -> tuple[float, float]:
    """Block width grows with log channels, height with log pixels [column, row units]."""
    height = 0.3 + 0.5 * math.log2(level["size"]) / math.log2(input_size)
    width = 0.25 + 0.4 * math.log2(1 + level["width"]) / math.log2(1 + top_width)
    return width, height


def _draw_schematic(ax, arch: dict, *, title: str):
    """A U-shaped block diagram: columns are steps, rows are resolution levels."""
    levels = arch["levels"]
    depth = len(levels) - 1
    top_width = max(level["width"] for level in levels)
    sizes = [_box_size(level, arch["input_size"], top_width) for level in levels]
    block_color = _COMPLEX_COLOR if arch["domain"] == "complex" else _REAL_COLOR
    pool_color = _FOURIER_COLOR if arch["pooling"] == "spectral" else "tab:red"
    x_enc, x_dec = 2.0, 2.0 + 2 * depth

    ax.text(0.3, 0, "CBED\nprobe", ha="right", va="center", fontsize=6)
    if arch["fourier_input"]:
        _box(ax, 1.0, 0, 0.32, 0.8, _FOURIER_COLOR, "FFT", rotation=90)
        note = "Fourier layer:\nFFT(CBED)·FFT(probe)*,\nunit norm → Re, Im"
    else:
        _box(ax, 1.0, 0, 0.32, 0.8, "0.9", "norm", rotation=90)
        note = "each image\nto unit norm,\nstacked"
    ax.text(0.0, -0.55, note, ha="left", va="top", fontsize=6)
    _arrow(ax, (0.32, 0), (0.84, 0))
    _arrow(ax, (1.16, 0), (x_enc - sizes[0][0] / 2, 0))
    for level, (w, h) in zip(levels, sizes):
        l = level["level"]
        columns = (x_enc + l,) if level.get("bottleneck") else (x_enc + l, x_dec - l)
        for x in columns:
            _box(ax, x, -l, w, h, block_color)
            ax.text(x, -l + h / 2 + 0.04, str(level["width"]), ha="center", va="bottom",
                    fontsize=6)
        if level.get("bottleneck"):
            ax.text(x_enc + l, -l - h / 2 - 0.05, f"{level['size']}²", ha="center", va="top",
                    fontsize=6, color="0.35")
            continue
        below_w, below_h = sizes[l + 1]
        _arrow(ax, (x_enc + l + w / 2, -l), (x_dec - l - w / 2, -l), color="0.6",
               linestyle="--", lw=0.7)
        ax.text(x_enc + depth, -l + 0.04, f"{level['size']}²", ha="center", va="bottom",
                fontsize=6, color="0.35")
        below = -l - 1 + below_h / 4
        _arrow(ax, (x_enc + l + w / 4, -l - h / 2), (x_enc + l + 1 - below_w / 2, below),
               color=pool_color, lw=1.1)
        _arrow(ax, (x_dec - l - 1 + below_w / 2, below), (x_dec - l - w / 4, -l - h / 2),
               color="tab:green", lw=1.1)
    x = x_dec + 1.0
    _arrow(ax, (x_dec + sizes[0][0] / 2, 0), (x - 0.16, 0))
    if arch["inverse_fft"]:
        _box(ax, x, 0, 0.32, 0.8, _FOURIER_COLOR, "IFFT", rotation=90)
        ax.text(x, -0.55, "inverse\nFFT,\nreal\npart", ha="center", va="top", fontsize=6)
        _arrow(ax, (x + 0.16, 0), (x + 0.8, 0))
        x += 1.0
    top = 0.4
    if arch.get("correlation_skip"):  # the Fourier layer's output, inverse FFT, straight to the head
        top = max(0.62, sizes[0][1] / 2 + 0.2)
        ax.plot([1.0, 1.0, x], [0.4, top, top], color=_FOURIER_COLOR, lw=1.1, linestyle=":")
        _arrow(ax, (x, top), (x, 0.4), color=_FOURIER_COLOR, lw=1.1)
        ax.text((1.0 + x) / 2, top + 0.03, "correlation skip: inverse FFT of the Fourier layer "
                "(the pattern–probe cross-correlation map)", ha="center", va="bottom", fontsize=6,
                color="0.25")
    _box(ax, x, 0, 0.32, 0.8, _REAL_COLOR, "head", rotation=90)
    ax.text(x, -0.55, f"real\nblock\n({arch['head_width']})\n+ conv", ha="center", va="top",
            fontsize=6)
    _arrow(ax, (x + 0.16, 0), (x + 0.66, 0))
    ax.text(x + 0.7, 0, "|V_g|", ha="left", va="center", fontsize=6)
    ax.set_xlim(-0.4, x + 1.4)
    ax.set_ylim(-depth - 0.75, max(0.75, top + 0.3))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def _schematic_legend(ax, archs):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=_REAL_COLOR, edgecolor="0.25", label="real block (channels)"),
               Patch(facecolor=_COMPLEX_COLOR, edgecolor="0.25",
                     label="complex block (complex channels, CReLU)"),
               Patch(facecolor=_FOURIER_COLOR, edgecolor="0.25", label="Fourier transform"),
               Line2D([], [], color="tab:red", label="2× max pooling"),
               Line2D([], [], color=_FOURIER_COLOR, label="2× spectral pooling (FFT crop)"),
               Line2D([], [], color="tab:green", label="2× nearest upsampling"),
               Line2D([], [], color="0.6", linestyle="--", label="skip (concatenate), pixels²")]
    convs = "/".join(map(str, sorted({a["convs_per_block"] for a in archs})))
    ax.axis("off")
    title = (f"block = {convs} × [3×3 conv → batch norm → ReLU (CReLU) → MC dropout]; "
             "rows are resolution levels; block width and height grow with channels and pixels")
    ax.legend(handles=handles, loc="center", ncols=7, fontsize=7, frameon=False, title=title,
              title_fontsize=7)


def _schematic_title(arch: dict, letter: str) -> str:
    label = MODEL_LABELS.get(arch["name"], arch["name"])
    return (f"({letter}) {label}: {_count(arch['parameters'])} parameters, "
            f"{arch['gflop']:.3g} GFLOP/pattern")


def _count(value) -> str:
    if value is None:
        return "–"
    value = float(value)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f}"


def _fmt(value, spec=".3g") -> str:
    return "–" if value is None else format(value, spec)


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def loss_label(cards: dict) -> str:
    """Name of the training loss the cards share, e.g. ``"MSE"`` or
    ``"spot-weighted MSE (w = 100)"`` (from each card's ``options``)."""
    names = set()
    for card in cards.values():
        options = card.get("options", {})
        loss = options.get("loss", "mse")
        names.add(f"spot-weighted MSE (w = {options.get('spot_weight', 20.0):g})"
                  if loss == "spot_mse" else loss.upper())
    return " / ".join(sorted(names)) or "MSE"


def target_label(cards: dict) -> str:
    """What the cards' losses were computed on: ``"targets × target_scale"``
    (``target_norm="global"``) and/or ``"targets / their maximum"``
    (``"pattern_max"``)."""
    from fcunet_lib.evaluation import target_norm_of

    labels = {"global": "targets × target_scale", "pattern_max": "targets / their maximum"}
    return " / ".join(sorted({labels[target_norm_of(card)] for card in cards.values()}))


def _draw_curves(ax, cards: dict, key: str, ylabel: str):
    from matplotlib.ticker import MaxNLocator

    epochs = 1
    for name, card in cards.items():
        curves = card.get("curves") or {}
        for prefix, style, marker in (("", "-", "o"), ("val_", "--", "s")):
            values = curves.get(prefix + key) or []
            if values:
                epochs = max(epochs, len(values))
                ax.plot(np.arange(1, len(values) + 1), values, style, marker=marker,
                        markersize=5, color=MODEL_COLORS.get(name),
                        markerfacecolor="white" if prefix else MODEL_COLORS.get(name))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.tick_params(labelsize=7)
    ax.set_xlim(0.5, epochs + 0.5)
    if epochs <= 10:
        ax.set_xticks(range(1, epochs + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _curves_legend(ax, names):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=MODEL_COLORS.get(n), marker="o", markersize=5,
                      label=MODEL_LABELS.get(n, n)) for n in names]
    handles += [Line2D([], [], color="0.3", marker="o", label="training (mean over the epoch)"),
                Line2D([], [], color="0.3", linestyle="--", marker="s", markerfacecolor="white",
                       label="validation (after the epoch)")]
    ax.legend(handles=handles, fontsize=7, loc="lower left", ncols=3,
              title="(d), (e): curves", title_fontsize=7)


def _training_table(ax, training: dict, cards: dict, provenance: str):
    header = ["network", "params", "epochs", "loss\n(train / val)", "val MAE",
              "training time\n(per epoch)", "val SSIM\non / off zone", "patterns\ntrain / val"]
    rows = []
    for name, t in training.items():
        final = t["final"]
        ssim = t["validation_ssim"]
        rows.append([MODEL_LABELS.get(name, name), _count(t["parameters"]), str(t["epochs"]),
                     f"{_fmt(final['loss'])} / {_fmt(final['val_loss'])}",
                     _fmt(final["val_mean_absolute_error"]),
                     f"{_duration(t['training_seconds'])} ({_duration(t['seconds_per_epoch'])})",
                     f"{_fmt(ssim['on_zone'], '.3f')} / {_fmt(ssim['off_zone'], '.3f')}",
                     f"{t['train_patterns']} / {t['validation_patterns']}"])
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="upper center", cellLoc="center",
                     bbox=(0.0, 0.5, 1.0, 0.45))
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    machines = "; ".join(sorted({t["machine"] for t in training.values()}))
    commands = sorted({t["command"].replace(f"--model {name}", "--model <name>")
                       for name, t in training.items() if t["command"]})
    hashes = sorted({str(c.get("library_hash")) for c in cards.values()})
    lines = [f"models: {provenance}",
             f"trained on: {machines} (CPU); loss = {loss_label(cards)} of {target_label(cards)}",
             ("training loss: mean over the epoch of augmented patterns while the weights "
              "change;\nvalidation loss: clean validation patterns, after the epoch"),
             f"library: {', '.join(hashes)}"]
    lines += [f"reproduce: {command}" for command in commands]
    ax.text(0.0, 0.45, "\n".join(lines), transform=ax.transAxes, ha="left", va="top",
            fontsize=8, wrap=True)
    ax.set_title("(f) training and validation", fontsize=9)


def plot_fig7(archs: list[dict], cards: dict, *, provenance: str, scale: str):
    """Draw Fig. 7: the three architectures and their training.

    Parameters
    ----------
    archs : list of dict
        :func:`architecture_summary` of each network, in table order.
    cards : dict
        Network name -> model card (with ``curves``), same order.
    provenance : str
        Which models these are (:func:`models_provenance`); shown in the title.
    scale : str
        Scale of the run, shown in the title.

    Returns
    -------
    matplotlib.figure.Figure
        Top: one U-shaped schematic per network (block widths and heights
        grow with channels and pixels; numbers above blocks are channels);
        bottom: training (solid) and validation (dashed) loss and MAE per
        epoch, and a table of training facts.
    """
    if not archs:
        raise ValueError("archs: expected at least one architecture")
    from matplotlib.figure import Figure

    depth = max(len(a["levels"]) for a in archs)
    columns = max(2 * (len(a["levels"]) - 1) + 7 + a["inverse_fft"] for a in archs)
    top_height = 0.5 + (17.0 / len(archs) - 0.3) * (depth + 0.5) / (columns + 1.8)
    figure = Figure(figsize=(17, top_height + 5.0), layout="constrained")
    grid = figure.add_gridspec(3, 1, height_ratios=(top_height, 0.5, 4.5))
    top = grid[0].subgridspec(1, len(archs))
    for i, arch in enumerate(archs):
        _draw_schematic(figure.add_subplot(top[i]), arch,
                        title=_schematic_title(arch, "abc"[i] if i < 3 else str(i)))
    _schematic_legend(figure.add_subplot(grid[1]), archs)
    bottom = grid[2].subgridspec(1, 3, width_ratios=(1, 1, 1.8))
    ax_loss = figure.add_subplot(bottom[0])
    _draw_curves(ax_loss, cards, "loss", f"{loss_label(cards)} loss")
    ax_loss.set_title("(d) loss per epoch", fontsize=9)
    ax_mae = figure.add_subplot(bottom[1])
    _draw_curves(ax_mae, cards, "mean_absolute_error", "mean absolute error")
    ax_mae.set_title("(e) mean absolute error per epoch", fontsize=9)
    training = {name: training_summary(card) for name, card in cards.items()}
    ax_table = figure.add_subplot(bottom[2])
    _training_table(ax_table, training, cards, provenance)
    _curves_legend(ax_table, list(cards))
    figure.suptitle(textwrap.fill(f"Fig. 7 — the three networks of Table I and their training "
                                  f"(scale {scale}: {provenance})", 150), fontsize=10)
    return figure


# --------------------------------------------------------------------------- #
# Table I: data and numbers
# --------------------------------------------------------------------------- #
def check_same_plan(cards: dict, library_folder) -> None:
    """Check that every model was trained on the crystal-system splits of ``library_folder``.

    The splits fix which crystal systems are held out for testing; a model
    trained on other splits may have seen them. A card's ``split_digest``
    (:func:`fcunet_lib.library.split_digest`) is compared with the library's:
    the same plan rebuilt on another machine can differ in the last bits of
    its floats, hence in its folder name ``library-<digest>`` and in its
    hash, and still hold the same splits. Cards written before the digest
    existed are compared by folder name.

    Raises
    ------
    ValueError
        Naming the models trained on other splits.
    """
    from pathlib import Path

    from fcunet_lib.library import split_digest

    folder = Path(library_folder)
    wanted = {"split_digest": split_digest(folder), "library_folder": folder.name}
    other = {}
    for name, card in cards.items():
        key = "split_digest" if "split_digest" in card else "library_folder"
        if Path(str(card.get(key, "?"))).name != wanted[key]:
            other[name] = f"{key} {card.get(key, '?')}"
    if other:
        raise ValueError(
            f"models {other} were trained on other crystal-system splits than {folder.name} "
            f"(split_digest {wanted['split_digest']}), so the test crystal systems may have been "
            "in their training split: rerun notebook 04_train at this scale with retrain=True")


def select_test_patterns(zones, *, limit: int, seed: int = 0) -> np.ndarray:
    """Pick at most ``limit`` test patterns, half on zone and half off zone.

    Each zone gets ``limit // 2`` patterns (the other zone takes what one
    zone lacks); within a zone the choice is a seeded random draw. The same
    zones, limit and seed give the same indices.

    Parameters
    ----------
    zones : sequence of str
        ``"on_zone"`` or ``"off_zone"`` per pattern of the split.
    limit : int
        Largest number of patterns.
    seed : int

    Returns
    -------
    ndarray of int
        Sorted indices into the split.
    """
    zones = np.asarray(zones)
    if limit < 1:
        raise ValueError(f"limit={limit}: expected at least one pattern")
    pools = {zone: np.flatnonzero(zones == zone) for zone in _ZONES}
    if len(zones) <= limit:
        return np.arange(len(zones))
    share = {"on_zone": min(len(pools["on_zone"]), limit // 2)}
    share["off_zone"] = min(len(pools["off_zone"]), limit - share["on_zone"])
    share["on_zone"] = min(len(pools["on_zone"]), limit - share["off_zone"])
    chosen = [np.random.default_rng([seed, k]).choice(pools[zone], share[zone], replace=False)
              for k, zone in enumerate(_ZONES)]
    return np.sort(np.concatenate(chosen)).astype(int)


def pattern_subset(split: dict, indices) -> dict:
    """The chosen patterns of a split from :func:`fcunet_lib.train.load_split`.

    Returns
    -------
    dict
        ``cbed``, ``probe``, ``target`` (float32 ``[n, N, N]``), ``zone``,
        ``thickness_nm``, ``material_id`` and ``semiangle_mrad`` per pattern,
        and ``indices`` into the split.
    """
    indices = np.asarray(indices, dtype=int)
    semiangles = np.concatenate([[record["semiangle_mrad"]] * len(record["thicknesses_nm"])
                                 for record in split["jobs"]])
    out = {key: np.asarray(split[key][indices], dtype=np.float32)
           for key in ("cbed", "probe", "target")}
    out.update({key: np.asarray(split[key])[indices]
                for key in ("zone", "thickness_nm", "material_id")})
    out["semiangle_mrad"] = semiangles[indices]
    out["indices"] = indices
    return out


def pattern_ssim(predictions, targets) -> np.ndarray:
    """SSIM of each prediction with its target (:func:`fcunet_lib.metrics.ssim`)."""
    from fcunet_lib import metrics

    if len(predictions) != len(targets):
        raise ValueError("predictions and targets: expected one prediction per target")
    return np.array([metrics.ssim(p, t) for p, t in zip(predictions, targets)])


def ssim_breakdown(scores, zones, values) -> dict:
    """Mean SSIM per value of a pattern attribute (thickness, semiangle), per zone.

    Returns
    -------
    dict
        ``{"<value>": {"on_zone": mean or None, "off_zone": ..., "n": {...}}}``
        with values as short strings (``"10"``, ``"2.5"``), in ascending order.
    """
    scores, zones, values = np.asarray(scores), np.asarray(zones), np.asarray(values)
    result = {}
    for value in np.unique(values):
        entry = {"n": {}}
        for zone in _ZONES:
            chosen = (values == value) & (zones == zone)
            entry[zone] = float(scores[chosen].mean()) if chosen.any() else None
            entry["n"][zone] = int(chosen.sum())
        result[f"{float(value):g}"] = entry
    return result


def pick_examples(scores, zones) -> dict:
    """Per zone, the pattern whose SSIM is nearest the zone's median: typical, not the best."""
    scores, zones = np.asarray(scores), np.asarray(zones)
    picked = {}
    for zone in _ZONES:
        pool = np.flatnonzero(zones == zone)
        if len(pool):
            picked[zone] = int(pool[np.argmin(np.abs(scores[pool] - np.median(scores[pool])))])
    return picked


def table1_examples(subset: dict, predictions: dict, per_pattern: dict, *,
                    reference: str = "fcunet") -> list[dict]:
    """One typical example per zone for the figure (:func:`pick_examples` on ``reference``).

    Returns
    -------
    list of dict
        ``label``, ``index`` (into the subset), ``cbed``, ``target``,
        ``predictions`` and ``ssim`` (network -> value).
    """
    from fcunet_lib.plots.library import material_label

    chosen = pick_examples(per_pattern[reference], subset["zone"])
    examples = []
    for zone, i in chosen.items():
        label = (f"{zone.replace('_', '-')}: {material_label(str(subset['material_id'][i]))}\n"
                 f"t = {subset['thickness_nm'][i]:g} nm, α = {subset['semiangle_mrad'][i]:g} mrad")
        examples.append({"label": label, "index": i, "cbed": subset["cbed"][i],
                         "target": subset["target"][i],
                         "predictions": {n: p[i] for n, p in predictions.items()},
                         "ssim": {n: float(s[i]) for n, s in per_pattern.items()}})
    return examples


def table1_numbers(zone_scores: dict, per_pattern: dict, subset: dict, *, available: dict,
                   baselines: dict | None = None, mc_passes: int = 1,
                   disk_accuracy: dict | None = None) -> dict:
    """The numbers of Table I for the result file.

    Parameters
    ----------
    zone_scores : dict
        Network -> :func:`fcunet_lib.evaluation.ssim_by_zone` output.
    per_pattern : dict
        Network -> :func:`pattern_ssim` output.
    subset : dict
        :func:`pattern_subset` output.
    available : dict
        Patterns of the whole test split per zone.
    baselines : dict, optional
        Name -> :func:`fcunet_lib.evaluation.ssim_by_zone` output of a
        reference prediction that involves no network, e.g. ``"zero_prediction"``.
    mc_passes : int
        Forward passes averaged per prediction.
    disk_accuracy : dict, optional
        Finder (a network, or ``"correlation"``) ->
        :func:`fcunet_lib.plots.disks.accuracy_by_zone` output: the eq. (1)
        accuracy of the disks found on the same patterns.

    Returns
    -------
    dict
        ``ssim`` (network -> ``on_zone``, ``off_zone``, ``all``), ``paper``,
        ``disk_accuracy`` (same form, when given),
        ``baselines`` (same form as ``ssim``), ``n_test`` (``on_zone``,
        ``off_zone``, ``available``),
        ``by_thickness_nm``, ``by_semiangle_mrad``, ``test_materials``.
    """
    zones = subset["zone"]
    keys = (*_ZONES, "all")
    return {
        "ssim": {name: {key: s[key] for key in keys} for name, s in zone_scores.items()},
        "paper": PAPER_TABLE1,
        "baselines": {name: {key: s[key] for key in keys}
                      for name, s in (baselines or {}).items()},
        "n_test": {**{zone: int(np.sum(zones == zone)) for zone in _ZONES},
                   "available": {zone: int(available[zone]) for zone in _ZONES}},
        "by_thickness_nm": {name: ssim_breakdown(s, zones, subset["thickness_nm"])
                            for name, s in per_pattern.items()},
        "by_semiangle_mrad": {name: ssim_breakdown(s, zones, subset["semiangle_mrad"])
                              for name, s in per_pattern.items()},
        "test_materials": sorted({str(m) for m in subset["material_id"]}),
        "mc_passes": mc_passes,
        **({"disk_accuracy": {name: {key: d[key] for key in keys} for name, d in disk_accuracy.items()}}
           if disk_accuracy else {}),
    }


# --------------------------------------------------------------------------- #
# Table I: drawing
# --------------------------------------------------------------------------- #
_BASELINE_LABELS = {"zero_prediction": "all-zero image\n(baseline)",
                    "correlation": "py4DSTEM correlation\n(default options)"}


def _table1_table(ax, numbers: dict):
    disks = numbers.get("disk_accuracy", {})
    header = ["network", "SSIM\non zone", "SSIM\noff zone"]
    if disks:
        header += ["disks\non zone", "disks\noff zone"]
    header += ["paper\non zone", "paper\noff zone"]
    n_ours = len(header) - 3

    def disk_cells(name):
        scores = disks.get(name, {})
        return [_fmt(scores.get("on_zone"), ".3f"), _fmt(scores.get("off_zone"), ".3f")] if disks else []

    rows, colors = [], []
    for name, scores in numbers["ssim"].items():
        paper = numbers["paper"].get(name, {})
        rows.append([MODEL_LABELS.get(name, name), _fmt(scores["on_zone"], ".3f"),
                     _fmt(scores["off_zone"], ".3f"), *disk_cells(name),
                     _fmt(paper.get("on_zone"), ".3f"), _fmt(paper.get("off_zone"), ".3f")])
        colors.append(["white"] * (n_ours + 1) + ["0.9"] * 2)
    for name, scores in numbers.get("baselines", {}).items():
        rows.append([_BASELINE_LABELS.get(name, name), _fmt(scores["on_zone"], ".3f"),
                     _fmt(scores["off_zone"], ".3f"), *(["–", "–"] if disks else []), "–", "–"])
        colors.append(["#fff5e0"] * (n_ours + 1) + ["0.9"] * 2)
    for name in disks:
        if name not in numbers["ssim"]:  # a finder without a predicted image: no SSIM
            rows.append([_BASELINE_LABELS.get(name, name), "–", "–", *disk_cells(name), "–", "–"])
            colors.append(["#fff5e0"] * (n_ours + 1) + ["0.9"] * 2)
    ax.axis("off")
    width = 0.74 / (len(header) - 1)
    table = ax.table(cellText=rows, colLabels=header, cellColours=colors, loc="center",
                     cellLoc="center", bbox=(0.0, 0.0, 1.0, 0.92),
                     colWidths=[0.26] + [width] * (len(header) - 1))
    table.auto_set_font_size(False)
    table.set_fontsize(9 if not disks else 8)
    n = numbers["n_test"]
    disk_line = ("\ndisks: mean eq. (1) accuracy of the peaks found in each prediction" if disks else "")
    ax.set_title(f"(a) Table I — mean SSIM on held-out test crystal systems{disk_line}\n"
                 f"ours: {n['on_zone']} on-zone + {n['off_zone']} off-zone patterns; "
                 "grey: the paper's published values (SSIM)", fontsize=9)


def _draw_breakdown(ax, breakdowns: dict, xlabel: str, title: str):
    values = set()
    for name, breakdown in breakdowns.items():
        for zone, style, marker in (("on_zone", "-", "o"), ("off_zone", "--", "s")):
            points = [(float(t), v[zone]) for t, v in breakdown.items() if v[zone] is not None]
            if points:
                t, v = zip(*points)
                values.update(t)
                ax.plot(t, v, style, marker=marker, markersize=4, color=MODEL_COLORS.get(name),
                        markerfacecolor="white" if zone == "off_zone" else MODEL_COLORS.get(name),
                        label=f"{MODEL_LABELS.get(name, name)}, {zone.replace('_', ' ')}")
    if 0 < len(values) <= 8:
        ax.set_xticks(sorted(values))
    if len(values) == 1:
        only = next(iter(values))
        ax.set_xlim(only - 1, only + 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean SSIM")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)


def _spot_vmax(target) -> float:
    """Brightest spot away from g = 0 (the central spot would darken the rest)."""
    image = np.array(target, dtype=float)
    n0, n1 = image.shape
    image[n0 // 2 - 2:n0 // 2 + 3, n1 // 2 - 2:n1 // 2 + 3] = 0
    return float(image.max()) if image.max() > 0 else float(np.max(target)) or 1.0


def _log_show(ax, image, vmax, decades, cmap, extent):
    from matplotlib.colors import LogNorm

    vmin = vmax * 10.0**-decades
    return ax.imshow(np.clip(image, vmin, None), norm=LogNorm(vmin=vmin, vmax=vmax), cmap=cmap,
                     extent=extent, interpolation="nearest")


def _draw_examples(figure, grid, examples: list[dict], pixel_inv_A: float):
    names = list(examples[0]["predictions"])
    columns = ["CBED (log)", "truth (log)"] + [MODEL_LABELS.get(n, n) for n in names]
    n = examples[0]["cbed"].shape[0]
    low, high = (-(n // 2) - 0.5) * pixel_inv_A, (n - 1 - n // 2 + 0.5) * pixel_inv_A
    extent = (low, high, high, low)
    for row, example in enumerate(examples):
        vmax = _spot_vmax(example["target"])
        images = [(example["cbed"], "inferno", example["cbed"].max(), CBED_DECADES, None),
                  (example["target"], "viridis", vmax, TARGET_DECADES, None)]
        images += [(example["predictions"][name], "viridis", vmax, TARGET_DECADES,
                    example["ssim"][name]) for name in names]
        for column, (image, cmap, top, decades, score) in enumerate(images):
            ax = figure.add_subplot(grid[row, column])
            _log_show(ax, image, top, decades, cmap, extent)
            title = columns[column] if score is None else f"{columns[column]}\nSSIM {score:.3f}"
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=6)
            if column == 0:
                ax.set_ylabel(f"{example['label']}\nq_x [Å⁻¹]", fontsize=7)
            else:
                ax.set_yticklabels([])
            if row == len(examples) - 1:
                ax.set_xlabel("q_y [Å⁻¹]", fontsize=7)
            else:
                ax.set_xticklabels([])


def plot_table1(numbers: dict, examples: list[dict], *, scale: str, provenance: str,
                pixel_inv_A: float):
    """Draw Table I with our SSIM next to the paper's, SSIM against thickness and examples.

    Parameters
    ----------
    numbers : dict
        :func:`table1_numbers` output.
    examples : list of dict
        Each with ``label`` (row title), ``cbed``, ``target`` ``[N, N]``,
        ``predictions`` (network -> ``[N, N]``) and ``ssim`` (network -> float).
    scale : str
        Scale of the run.
    provenance : str
        Which models (:func:`models_provenance`).
    pixel_inv_A : float
        Reciprocal pixel [1/Å] for the axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    columns = 2 + len(numbers["ssim"])
    figure = Figure(figsize=(max(14.0, 2.6 * columns), 5.0 + 2.6 * max(1, len(examples))),
                    layout="constrained")
    grid = figure.add_gridspec(2, 1, height_ratios=(1.6, 1.35 * max(1, len(examples))))
    top = grid[0].subgridspec(1, 3, width_ratios=(1.45, 1, 0.75))
    _table1_table(figure.add_subplot(top[0]), numbers)
    ax = figure.add_subplot(top[1])
    _draw_breakdown(ax, numbers["by_thickness_nm"], "thickness [nm]",
                    "(b) SSIM against thickness")
    ax.legend(fontsize=6, loc="best")
    ax = figure.add_subplot(top[2], sharey=ax)
    _draw_breakdown(ax, numbers["by_semiangle_mrad"], "probe semiangle [mrad]",
                    "(c) SSIM against semiangle")
    ax.set_ylabel("")
    if examples:
        bottom = grid[1].subgridspec(len(examples), columns)
        _draw_examples(figure, bottom, examples, pixel_inv_A)
    figure.suptitle(textwrap.fill(f"Table I — structure-factor images predicted on unseen crystal "
                                  f"systems (scale {scale}: {provenance})", 150)
                    + "\n(d) typical examples (median FCU-Net SSIM "
                    "of each zone); one log colour scale per row, set by the truth",
                    fontsize=10)
    return figure
