"""Fig. 2: Bragg disk detection by correlation and by FCU-Net, scored with eq. (1).

(Table I's disk columns use the same helpers: :func:`network_peaks`,
:func:`correlation_peaks`, :func:`true_peaks`, :func:`accuracy_by_zone`.)

Computing and plotting are separate. The computing helpers take library
arrays (``fcunet_lib.train.load_split``) and return plain numbers and peak
arrays; :func:`plot_fig2` draws them.

Ground truth
------------
The true peaks of a pattern are read from its *true structure-factor image*
(the target the networks are trained on) by exactly the peak finder that
reads FCU-Net's predictions: :func:`fcunet_lib.disks.find_disks_fcunet` with
an identity "model" that returns its input. Both sets are therefore judged
by the same rules (minimum spacing, edge, relative intensity, sub-pixel
Gaussian fit; isolated target spots are recovered to < 0.01 px), and each
true peak's intensity is its ``t·|V_g|``. This is simpler than rebuilding
every crystal of the library for :func:`fcunet_lib.targets.structure_factor_spots`,
and it scores exactly what Table I's SSIM compares.

Categories
----------
Each test pattern is put in one category, from its metadata and its true
peaks: ``off_zone`` (mistilted zone axes and random orientations), else
``overlapping`` (neighbouring disks overlap: the probe disk's diameter exceeds
the shortest distance between true peaks — the 4 mrad patterns, mostly),
else ``thick`` (at least ``thick_min_nm``), else ``thin``. ``background`` is
not a subset: it is every selected pattern again with a strong plasmon-like
background added (:func:`fcunet_lib.augment.plasmon_background`).
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from fcunet_lib import disks, metrics, progress
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE

__all__ = [
    "CATEGORIES",
    "CATEGORY_LABELS",
    "METHODS",
    "probe_groups",
    "true_peaks",
    "overlaps",
    "assign_categories",
    "categorised_split",
    "select_patterns",
    "with_background",
    "tune_correlation_by_probe",
    "tune_network_by_probe",
    "network_peaks",
    "correlation_peaks",
    "find_peaks",
    "accuracy",
    "accuracy_by_zone",
    "without_direct_beam",
    "category_means",
    "plot_fig2",
]

#: The five columns of Fig. 2, in the paper's order.
CATEGORIES = ("thin", "overlapping", "background", "thick", "off_zone")
#: Categories assigned from the pattern itself (``background`` is derived).
_BASE_CATEGORIES = ("thin", "overlapping", "thick", "off_zone")
CATEGORY_LABELS = {"thin": "thin, separated disks", "overlapping": "overlapping disks",
                   "background": "strong background", "thick": "thick", "off_zone": "off zone"}
METHODS = ("correlation", "fcunet")
_METHOD_LABELS = {"correlation": "correlation", "fcunet": "FCU-Net"}
_COLOURS = {"correlation": "tab:orange", "fcunet": "tab:blue"}


# --------------------------------------------------------------------------- #
# Ground truth and categories
# --------------------------------------------------------------------------- #
def probe_groups(probes) -> list[np.ndarray]:
    """Indices of the patterns that share one vacuum probe (one library job each).

    Parameters
    ----------
    probes : ndarray of shape (n, N, N)

    Returns
    -------
    list of ndarray of int
        In order of first appearance.
    """
    groups: dict[bytes, list[int]] = {}
    for index, probe in enumerate(np.asarray(probes)):
        groups.setdefault(np.ascontiguousarray(probe).tobytes(), []).append(index)
    return [np.asarray(members) for members in groups.values()]


def _identity(inputs):
    """A "model" that returns its input pattern: runs the FCU-Net peak finder on a given image."""
    return inputs[0]


@contextlib.contextmanager
def _quiet_bars():
    """No inner progress bars while one outer bar counts the groups."""
    before = progress._override  # an explicit choice made before, or None (the environment's)
    progress.set_enabled(False)
    try:
        yield
    finally:
        progress.set_enabled(before)


def _peaks_of(bv) -> list[np.ndarray]:
    rx, ry = bv.Rshape
    return [metrics.as_peak_array(bv.raw[i, j].data) for i in range(rx) for j in range(ry)]


def _by_probe(images, probes, run, desc) -> list[np.ndarray]:
    """Run ``run(images[idx] as a 1 × n scan, probe)`` per probe group; peaks in input order."""
    images = np.asarray(images, dtype=np.float32)
    found: list = [None] * len(images)
    groups = probe_groups(probes)
    bar = progress.progress(groups, total=len(groups), desc=desc, unit="probe")
    with _quiet_bars():
        for members in bar:
            bv = run(images[members][None], np.asarray(probes[members[0]], dtype=np.float32))
            for index, peaks in zip(members, _peaks_of(bv)):
                found[index] = peaks
    return found


def true_peaks(targets, probes, *, pixel_size=RECIPROCAL_PIXEL_SIZE) -> list[np.ndarray]:
    """Peaks of the true structure-factor images, by FCU-Net's own peak finder.

    Parameters
    ----------
    targets : ndarray of shape (n, N, N)
        True structure-factor images [V·Å].
    probes : ndarray of shape (n, N, N)
        Each pattern's vacuum probe (it sets the edge boundary, as for the
        prediction).
    pixel_size : float
        Reciprocal pixel size [1/Å].

    Returns
    -------
    list of ndarray of shape (m, 3)
        ``(qx, qy, t·|V_g|)`` per pattern [pixels, V·Å].
    """
    def run(images, probe):
        return disks.find_disks_fcunet(images, probe, model=_identity, pixel_size=pixel_size)

    return _by_probe(targets, probes, run, "True peaks")


def overlaps(peaks, probe) -> bool:
    """Whether neighbouring disks overlap: probe diameter > shortest peak distance."""
    positions = metrics.as_peak_array(peaks)[:, :2]
    if len(positions) < 2:
        return False
    radius, _, _ = disks.probe_disk(probe)
    distance = np.hypot(*(positions[:, None, :] - positions[None, :, :]).transpose(2, 0, 1))
    distance[np.diag_indices(len(positions))] = np.inf
    return bool(distance.min() < 2 * radius)


def assign_categories(zones, thickness_nm, overlapping, *, thick_min_nm: float) -> np.ndarray:
    """One category per pattern (see the module docstring).

    Parameters
    ----------
    zones : sequence of str
        ``"on_zone"`` or ``"off_zone"`` per pattern.
    thickness_nm : sequence of float
        Thickness per pattern [nm].
    overlapping : sequence of bool
        :func:`overlaps` per pattern.
    thick_min_nm : float
        Smallest thickness counted as thick [nm].

    Returns
    -------
    ndarray of str
    """
    zones, thickness = np.asarray(zones), np.asarray(thickness_nm, dtype=float)
    overlapping = np.asarray(overlapping, dtype=bool)
    if not (len(zones) == len(thickness) == len(overlapping)):
        raise ValueError("zones, thickness_nm and overlapping need one entry per pattern")
    return np.where(zones != "on_zone", "off_zone",
                    np.where(overlapping, "overlapping", np.where(thickness >= thick_min_nm, "thick", "thin")))


def categorised_split(split: dict, *, pixel_size: float, thick_min_nm: float):
    """True peaks and a category for every pattern of a library split.

    Parameters
    ----------
    split : dict
        From :func:`fcunet_lib.train.load_split` (``target``, ``probe``,
        ``zone``, ``thickness_nm``).
    pixel_size : float
        Reciprocal pixel size [1/Å].
    thick_min_nm : float
        Smallest thickness counted as thick [nm].

    Returns
    -------
    truth : list of ndarray
        :func:`true_peaks` per pattern.
    categories : ndarray of str
        :func:`assign_categories` per pattern.
    """
    truth = true_peaks(split["target"], split["probe"], pixel_size=pixel_size)
    overlapping = [overlaps(peaks, probe) for peaks, probe in zip(truth, split["probe"])]
    return truth, assign_categories(split["zone"], split["thickness_nm"], overlapping,
                                    thick_min_nm=thick_min_nm)


def select_patterns(categories, count: int, *, seed: int = 0) -> np.ndarray:
    """A deterministic subset of at most ``count`` patterns, balanced over categories.

    Each category's patterns are shuffled with ``seed``; then one pattern is
    taken from each category in turn (in :data:`CATEGORIES` order) until
    ``count`` are chosen or all are used.

    Returns
    -------
    ndarray of int
        Sorted pattern indices.
    """
    categories = np.asarray(categories)
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}")
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(np.flatnonzero(categories == name))) for name in _BASE_CATEGORIES]
    chosen = []
    for batch in itertools.zip_longest(*queues):
        chosen.extend(int(i) for i in batch if i is not None)
        if len(chosen) >= count:
            break
    return np.sort(np.asarray(chosen[:count], dtype=int))


def with_background(cbed, probes, *, weight: float, q_l_px: float) -> np.ndarray:
    """Patterns with a plasmon-like background: ``(1 − w)·cbed + w·bg·Σcbed``.

    Parameters
    ----------
    cbed, probes : ndarray of shape (n, N, N)
    weight : float
        Share of the pattern's intensity moved into the background.
    q_l_px : float
        Lorentzian width of the background [pixels].
    """
    from fcunet_lib import augment

    return np.stack([augment.add_background(np.asarray(c, np.float64),
                                            augment.plasmon_background(np.asarray(p, np.float64), q_l_px),
                                            weight)
                     for c, p in zip(cbed, probes)]).astype(np.float32)


# --------------------------------------------------------------------------- #
# Detection and scores
# --------------------------------------------------------------------------- #
def tune_correlation_by_probe(patterns, probes, truth, *, pixel_size=RECIPROCAL_PIXEL_SIZE, grid=None,
                              direct_beam=True):
    """:func:`fcunet_lib.disks.tune_correlation` over patterns with different probes.

    ``tune_correlation`` takes one probe; here it runs once per probe group
    and each combination's scores are averaged over all patterns (weighted by
    group size); the best mean wins (the first in grid order on ties).
    ``direct_beam=False`` scores the diffracted disks only.

    Returns
    -------
    dict
        ``best`` (options for :func:`~fcunet_lib.disks.find_disks_correlation`),
        ``score`` (its mean eq. (1) accuracy) and ``trials``.
    """
    def tune(members_patterns, members_truth, probe):
        return disks.tune_correlation(members_patterns, members_truth, probe, pixel_size=pixel_size, grid=grid,
                                      direct_beam=direct_beam)

    return _tune_by_probe(tune, patterns, probes, truth, "Tuning correlation")


def tune_network_by_probe(patterns, probes, truth, *, model, pixel_size=RECIPROCAL_PIXEL_SIZE, grid=None,
                          mc_passes=1, symmetry_frames=1, network_label="FCU-Net", direct_beam=True):
    """:func:`fcunet_lib.disks.tune_fcunet_peaks` over patterns with different probes.

    The learned finder's peak options tuned like correlation's
    (:func:`tune_correlation_by_probe`): one prediction per pattern, every
    combination of ``grid`` scored on all patterns, the best mean wins;
    ``direct_beam=False`` scores the diffracted disks only; ``mc_passes`` and
    ``symmetry_frames`` are :func:`~fcunet_lib.disks.find_disks_fcunet`'s.

    Returns
    -------
    dict
        ``best`` (peak options for :func:`~fcunet_lib.disks.find_disks_fcunet`),
        ``score`` (its mean eq. (1) accuracy) and ``trials``.
    """
    def tune(members_patterns, members_truth, probe):
        return disks.tune_fcunet_peaks(members_patterns, members_truth, probe, model=model, pixel_size=pixel_size,
                                       grid=grid, mc_passes=mc_passes, symmetry_frames=symmetry_frames,
                                       batch_size=8, direct_beam=direct_beam)

    return _tune_by_probe(tune, patterns, probes, truth, f"Tuning {network_label} peaks")


def _tune_by_probe(tune, patterns, probes, truth, desc):
    """Run ``tune(patterns, truth, probe)`` per probe group; trials averaged over all patterns."""
    patterns = np.asarray(patterns, dtype=np.float32)
    totals, options, count = None, None, 0
    groups = probe_groups(probes)
    with _quiet_bars():
        for members in progress.progress(groups, total=len(groups), desc=desc, unit="probe"):
            tuned = tune(patterns[members], [truth[i] for i in members], np.asarray(probes[members[0]], np.float32))
            scores = np.array([score for _, score in tuned["trials"]]) * len(members)
            totals = scores if totals is None else totals + scores
            options = [trial for trial, _ in tuned["trials"]]
            count += len(members)
    means = totals / count
    best = int(np.argmax(means))  # first maximum: grid order on ties
    return {"best": dict(options[best]), "score": float(means[best]),
            "trials": [(dict(o), float(m)) for o, m in zip(options, means)]}


def network_peaks(cbed, probes, *, model, pixel_size=RECIPROCAL_PIXEL_SIZE, mc_passes=1, symmetry_frames=1,
                  network_label="FCU-Net", network_options=None) -> list[np.ndarray]:
    """Peaks in a network's predictions (:func:`fcunet_lib.disks.find_disks_fcunet`
    with ``network_options``, default its defaults), one call per probe group.

    ``model`` may be any shipped network with inputs ``[cbed, probe]``;
    ``network_label`` names it on the progress bar; ``mc_passes`` and
    ``symmetry_frames`` are :func:`~fcunet_lib.disks.find_disks_fcunet`'s.

    Returns
    -------
    list of ndarray of shape (m, 3)
        ``(qx, qy, intensity)`` per pattern, in input order [pixels].
    """
    options = dict(network_options or {})

    def run(images, probe):
        return disks.find_disks_fcunet(images, probe, model=model, pixel_size=pixel_size,
                                       mc_passes=mc_passes, symmetry_frames=symmetry_frames, batch_size=8,
                                       **options)

    return _by_probe(cbed, probes, run, network_label)


def correlation_peaks(cbed, probes, *, pixel_size=RECIPROCAL_PIXEL_SIZE,
                      correlation_options=None) -> list[np.ndarray]:
    """Peaks by py4DSTEM correlation (:func:`fcunet_lib.disks.find_disks_correlation`
    with ``correlation_options``, default its defaults), one call per probe group."""
    options = dict(correlation_options or {})

    def run(images, probe):
        return disks.find_disks_correlation(images, probe, pixel_size=pixel_size, **options)

    return _by_probe(cbed, probes, run, "Correlation")


def find_peaks(cbed, probes, *, model, pixel_size=RECIPROCAL_PIXEL_SIZE, mc_passes=1, symmetry_frames=1,
               correlation_options=None, network_label="FCU-Net", network_options=None) -> dict:
    """Peaks of every pattern by both finders (one call per probe group).

    ``model`` may be any shipped network with inputs ``[cbed, probe]``
    (``network_label`` names it on the progress bar); its peaks are under
    ``"fcunet"``, the key of :func:`fcunet_lib.disks.find_disks_fcunet`.
    ``correlation_options`` and ``network_options`` are each finder's peak
    options (default their defaults); ``mc_passes`` and ``symmetry_frames``
    are :func:`~fcunet_lib.disks.find_disks_fcunet`'s.

    Returns
    -------
    dict
        ``{"correlation": [...], "fcunet": [...]}``, each a list of
        ``(m, 3)`` arrays ``(qx, qy, intensity)`` in input order.
    """
    return {"correlation": correlation_peaks(cbed, probes, pixel_size=pixel_size,
                                             correlation_options=correlation_options),
            "fcunet": network_peaks(cbed, probes, model=model, pixel_size=pixel_size,
                                    mc_passes=mc_passes, symmetry_frames=symmetry_frames,
                                    network_label=network_label,
                                    network_options=network_options)}


def accuracy(found, truth, *, pixel_size=RECIPROCAL_PIXEL_SIZE) -> float:
    """Eq. (1) accuracy of one pattern at the library's pixel size
    (:func:`fcunet_lib.metrics.pattern_accuracy`)."""
    return metrics.pattern_accuracy(found, truth, pixel_size=pixel_size)


def without_direct_beam(peaks, pattern_size: int, *, pixel_size=RECIPROCAL_PIXEL_SIZE) -> np.ndarray:
    """The peaks farther than the matching radius (0.05 Å⁻¹) from the pattern centre."""
    centre = pattern_size // 2
    return metrics.without_direct_beam(peaks, (centre, centre), pixel_size=pixel_size)


def accuracy_by_zone(found, truth, zones, *, pixel_size=RECIPROCAL_PIXEL_SIZE) -> dict:
    """Mean eq. (1) accuracy on and off zone and over all patterns.

    Parameters
    ----------
    found, truth : list of ndarray of shape (m, 3)
        Found and true peaks per pattern (:func:`true_peaks`).
    zones : sequence of str
        ``"on_zone"`` or ``"off_zone"`` per pattern.

    Returns
    -------
    dict
        ``on_zone``, ``off_zone`` and ``all`` (``None`` where a zone has no pattern).
    """
    zones = np.asarray(zones)
    if not (len(found) == len(truth) == len(zones)):
        raise ValueError(f"found ({len(found)}), truth ({len(truth)}) and zones ({len(zones)}) "
                         "need one entry per pattern")
    scores = [accuracy(f, t, pixel_size=pixel_size) for f, t in zip(found, truth)]
    return _means_by(scores, zones, ("on_zone", "off_zone"))


def category_means(scores, categories) -> dict:
    """Mean score per category (None where a category has no pattern) and ``all``."""
    return _means_by(scores, categories, CATEGORIES)


def _means_by(scores, labels, names) -> dict:
    """Mean of ``scores`` per label in ``names`` (None where none has it) and ``all``."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    means = {name: (float(scores[labels == name].mean()) if np.any(labels == name) else None)
             for name in names}
    means["all"] = float(scores.mean()) if len(scores) else None
    return means


# --------------------------------------------------------------------------- #
# The figure
# --------------------------------------------------------------------------- #
def plot_fig2(examples: list, summary: dict, *, pixel_size=RECIPROCAL_PIXEL_SIZE,
              network_label="FCU-Net"):
    """Draw Fig. 2.

    Parameters
    ----------
    examples : list of dict
        One per column: ``category``, ``pattern`` (N × N), ``truth``,
        ``peaks`` (method → (m, 3) array), ``accuracy`` (method → float) and
        ``label`` (a line describing the pattern).
    summary : dict
        ``accuracy`` (method → category → mean), ``accuracy_diffracted`` (the
        same without the direct beam), ``n_patterns`` (category → count) and
        ``note`` (a line for the title).
    network_label : str
        Name of the network behind the ``"fcunet"`` peaks (another shipped
        network may fill that slot).

    Returns
    -------
    matplotlib.figure.Figure
        (a) the example patterns (log scale); (b) correlation and (c) FCU-Net
        peaks (black crosses, size ∝ √intensity relative to the brightest)
        over the true peaks (blue circles, size ∝ t·|V_g|), accuracy above each;
        (d) mean accuracy per category over the test subset, both methods.
    """
    from matplotlib.figure import Figure

    labels = {**_METHOD_LABELS, "fcunet": network_label}
    by_category = {example["category"]: example for example in examples}
    figure = Figure(figsize=(15.5, 14), layout="constrained")
    grid = figure.add_gridspec(4, len(CATEGORIES), height_ratios=(1, 1, 1, 1.05))
    for column, category in enumerate(CATEGORIES):
        example = by_category.get(category)
        ax = figure.add_subplot(grid[0, column])
        ax.set_xticks([])
        ax.set_yticks([])
        if example is None:
            ax.set_title(CATEGORY_LABELS[category], fontsize=9)
            ax.text(0.5, 0.5, "no pattern of this kind\nin the test subset", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8, color="0.4")
            continue
        size = example["pattern"].shape[0]
        image = np.log10(np.clip(np.asarray(example["pattern"], float), 1e-5, None))
        ax.imshow(image.T, origin="lower", cmap="magma", vmin=-4, vmax=0)
        ax.set_title(f"{CATEGORY_LABELS[category]}\n{example['label']}", fontsize=9)
        for row, method in enumerate(METHODS, start=1):
            _panel_peaks(figure.add_subplot(grid[row, column]), example, method, size, labels)
    _panel_means(figure.add_subplot(grid[3, :]), summary, labels)
    figure.suptitle("Fig. 2 — Bragg disk detection. (a) Test patterns (log scale); (b) correlation and "
                    f"(c) {network_label} peaks (black ×, size ∝ √intensity)\nover the true structure factors "
                    "(blue ○, area ∝ t·|V_g|), eq. (1) accuracy above each; (d) means per category\n"
                    + summary.get("note", ""), fontsize=10)
    return figure


def _panel_peaks(ax, example, method, size, labels):
    truth = metrics.as_peak_array(example["truth"])
    found = metrics.as_peak_array(example["peaks"][method])
    if len(truth):
        area = 250 * truth[:, 2] / truth[:, 2].max()
        ax.scatter(truth[:, 0], truth[:, 1], s=area, facecolors="none", edgecolors="tab:blue", lw=1.0)
    if len(found) and found[:, 2].max() > 0:
        area = 120 * np.sqrt(np.clip(found[:, 2], 0, None) / found[:, 2].max())
        ax.scatter(found[:, 0], found[:, 1], s=area, marker="x", color="black", lw=1.0)
    ax.set_xlim(-0.5, size - 0.5)
    ax.set_ylim(-0.5, size - 0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{labels[method]}: accuracy {example['accuracy'][method]:.2f}\n"
                 f"{len(found)} found, {len(truth)} true", fontsize=8)


def _panel_means(ax, summary, labels):
    names = [c for c in CATEGORIES] + ["all"]
    x = np.arange(len(names))
    width = 0.2
    for k, method in enumerate(METHODS):
        for j, (key, hatch) in enumerate((("accuracy", None), ("accuracy_diffracted", "//"))):
            values = [summary[key][method].get(name) for name in names]
            heights = [np.nan if v is None else v for v in values]
            offset = (2 * k + j - 1.5) * width
            label = labels[method] + ("" if hatch is None else ", direct beam excluded")
            bars = ax.bar(x + offset, heights, width, color=_COLOURS[method], hatch=hatch,
                          alpha=1.0 if hatch is None else 0.55, edgecolor="black", lw=0.5, label=label)
            for bar, value in zip(bars, values):
                if value is not None:
                    ax.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value), xytext=(0, 2),
                                textcoords="offset points", ha="center", fontsize=7)
    counts = summary["n_patterns"]
    ax.set_xticks(x, [f"{CATEGORY_LABELS.get(n, 'all patterns')}\n(n = {counts.get(n, 0)})" for n in names],
                  fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("mean eq. (1) accuracy")
    ax.set_title("(d) mean accuracy over the test subset per category (matching radius 0.05 Å⁻¹)",
                 fontsize=9)
    ax.legend(fontsize=8, ncols=4, loc="upper center")
