"""Fig. 1b: the five augmentations on one training triplet, and their checks.

Computing and plotting are separate: :func:`pick_triplet` loads a training
triplet from a library, :func:`augmentation_gallery` applies each
augmentation of :mod:`fcunet_lib.augment` alone and then all of them
together (seeded), :func:`augmentation_checks` measures the properties the
augmentations promise on that triplet, and :func:`plot_fig1b` draws the
gallery.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import augment
from .library import material_label

__all__ = ["augmentation_checks", "augmentation_gallery", "disk_radius_px", "gallery_parameters",
           "pick_triplet", "plot_fig1b"]

#: Dynamic range of the logarithmic colour scales (CBED, target).
CBED_DECADES = 4.0
TARGET_DECADES = 2.5
#: Target peaks followed by the distortion check.
CHECK_PEAKS = 12
#: Smallest distance [px] from a followed target peak to any other peak.
ISOLATION_PX = 4.0
#: Disks fainter than this fraction of the direct disk are not followed.
MIN_DISK_FRACTION = 0.02


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def pick_triplet(lib, *, split: str = "train", zone: str = "on_zone",
                 material_id: str | None = None, thickness_index: int | None = None) -> dict:
    """Load one ``(cbed, probe, target)`` triplet from a library.

    Parameters
    ----------
    lib : fcunet_lib.library.Library
    split, zone : str
        Split (``"train"``, ...) and zone (``"on_zone"``, ``"off_zone"``) of
        the job.
    material_id : str, optional
        Crystal system; default: the first job (in plan order) that matches.
    thickness_index : int, optional
        Position in the job's thickness series; default: the middle.

    Returns
    -------
    dict
        ``cbed``, ``probe``, ``target`` (float64 [N, N]) and the job's
        descriptors (``job_index``, ``material_id``, ``prototype``, ``zone``,
        ``split``, ``thickness_nm``, ``semiangle_mrad``, ``zone_axis``).

    Raises
    ------
    ValueError
        If no finished job matches, or ``thickness_index`` is out of range.
    """
    conditions = {"split": split, "zone": zone}
    if material_id is not None:
        conditions["material_id"] = material_id
    matches = lib.records_where(**conditions)
    if not matches:
        raise ValueError(f"no finished job with {conditions} in {lib.folder}: expected a "
                         "material and split that the library holds")
    record = matches[0]
    n_thick = len(record["thicknesses_nm"])
    index = n_thick // 2 if thickness_index is None else int(thickness_index)
    if not 0 <= index < n_thick:
        raise ValueError(f"thickness_index={thickness_index}: expected 0 <= index < {n_thick}")
    arrays = lib.job_arrays(record)
    return {
        "job_index": int(record["index"]),
        "material_id": record["material_id"],
        "prototype": record["prototype"],
        "zone_axis": record["zone_axis"],
        "zone": record["zone"],
        "split": record["split"],
        "thickness_nm": float(record["thicknesses_nm"][index]),
        "semiangle_mrad": float(record["semiangle_mrad"]),
        "cbed": arrays["cbed"][index].astype(np.float64),
        "probe": arrays["probe"].astype(np.float64),
        "target": arrays["target"][index].astype(np.float64),
    }


def disk_radius_px(probe: np.ndarray) -> float:
    """Radius of the probe's disk [pixels]: the area above half maximum as a circle."""
    probe = np.asarray(probe, dtype=np.float64)
    if probe.ndim != 2 or probe.max() <= 0:
        raise ValueError(f"probe of shape {probe.shape}: expected a 2D image with a positive max")
    return float(math.sqrt(np.count_nonzero(probe > 0.5 * probe.max()) / math.pi))


# --------------------------------------------------------------------------- #
# The gallery
# --------------------------------------------------------------------------- #
def _rng(seed: int, panel: int) -> np.random.Generator:
    # One independent stream per panel, so a panel's draws never depend on
    # how many numbers another panel (e.g. Poisson sampling) consumed.
    return np.random.default_rng(np.random.SeedSequence([int(seed), 7919, int(panel)]))


def _distortion(cbed, probe, target, settings, rng):
    e = rng.uniform(0, settings.max_ellipticity)
    angle = rng.uniform(0, np.pi)
    shift = rng.uniform(-settings.max_shift_px, settings.max_shift_px, 2)
    matrix = augment.elliptic_shift_matrix(e, angle)
    arrays = (np.clip(augment.warp(cbed, matrix, shift), 0, None),
              np.clip(augment.warp(probe, matrix), 0, None),
              np.clip(augment.warp(target, matrix, shift), 0, None))
    return arrays, {"ellipticity": e, "angle_rad": angle, "shift_px": shift.tolist()}


def augmentation_gallery(cbed, probe, target, *, settings: augment.AugmentSettings | None = None,
                         seed: int = 0, doses=None, bad_pixel_fraction: float | None = None
                         ) -> dict:
    """Apply each augmentation alone, then all five together, to one triplet.

    Parameters
    ----------
    cbed, probe, target : ndarray [N, N]
        The triplet (centred).
    settings : AugmentSettings, optional
        Ranges the parameters are drawn from (default: the training ranges).
    seed : int
        Seed of every draw; each panel has its own stream.
    doses : (float, float), optional
        Low and high dose of the two shot-noise panels [electrons per
        pattern]; default: the lower end of ``settings.dose_range`` and
        1000 times it.
    bad_pixel_fraction : float, optional
        Fraction of hot plus dead pixels of the bad-pixel panel; default: the
        largest fraction of the training range, so that some are visible.

    Returns
    -------
    dict
        ``panels``: list of dicts with ``name``, ``title``, ``cbed``,
        ``probe``, ``target`` and the drawn ``params``; ``seed``,
        ``settings`` (as a dict). The distortion and background panels draw
        their parameters from the training ranges; the last panel is
        :func:`fcunet_lib.augment.augment_triplet` with every augmentation
        switched on (probability 1) and the generator
        ``augment.rng_for(seed, 0)`` that training uses for triplet 0.
    """
    settings = settings or augment.AugmentSettings()
    cbed, probe, target = (np.asarray(a, dtype=np.float64) for a in (cbed, probe, target))
    for name, array in (("cbed", cbed), ("probe", probe), ("target", target)):
        if array.ndim != 2 or array.shape != cbed.shape:
            raise ValueError(f"{name} has shape {array.shape}: expected [N, N] like cbed "
                             f"{cbed.shape}")
    low, high = doses if doses is not None else (settings.dose_range[0],
                                                 1e3 * settings.dose_range[0])
    if not 0 < low < high:
        raise ValueError(f"doses=({low}, {high}): expected 0 < low < high electrons")
    fraction = settings.bad_pixel_fraction if bad_pixel_fraction is None else bad_pixel_fraction
    panels = [{"name": "original", "cbed": cbed, "probe": probe, "target": target, "params": {}}]

    arrays, params = _distortion(cbed, probe, target, settings, _rng(seed, 1))
    panels.append({"name": "distortion", "cbed": arrays[0], "probe": arrays[1],
                   "target": arrays[2], "params": params})

    rng = _rng(seed, 2)
    weight = rng.uniform(*settings.background_weight)
    q_l = rng.uniform(*settings.background_q_px)
    background = augment.add_background(cbed, augment.plasmon_background(probe, q_l), weight)
    panels.append({"name": "background", "cbed": background, "probe": probe, "target": target,
                   "params": {"background_weight": weight, "background_q_px": q_l}})

    for index, (name, dose) in enumerate((("shot_noise_low", low), ("shot_noise_high", high))):
        noisy = augment.shot_noise(cbed, dose, _rng(seed, 3 + index))
        panels.append({"name": name, "cbed": noisy, "probe": probe, "target": target,
                       "params": {"dose": float(dose)}})

    damaged = augment.bad_pixels(cbed, fraction, _rng(seed, 5))
    panels.append({"name": "bad_pixels", "cbed": damaged, "probe": probe, "target": target,
                   "params": {"bad_pixel_fraction": float(fraction),
                              "hot": int(np.count_nonzero(damaged > cbed)),
                              "dead": int(np.count_nonzero((damaged == 0) & (cbed > 0)))}})

    always = dataclasses.replace(settings, probability=1.0)
    out = augment.augment_triplet(cbed, probe, target, always, augment.rng_for(seed, 0))
    panels.append({"name": "combined", "cbed": out[0].astype(np.float64),
                   "probe": out[1].astype(np.float64), "target": out[2].astype(np.float64),
                   "params": out[3]})
    return {"panels": panels, "seed": int(seed), "settings": dataclasses.asdict(settings)}


def gallery_parameters(gallery: dict) -> dict:
    """Panel name -> drawn parameters (for the result file)."""
    return {p["name"]: p["params"] for p in gallery["panels"] if p["name"] != "original"}


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _centroid(image: np.ndarray, centre, radius: float, *, iterations: int = 1) -> np.ndarray:
    """Intensity centroid [px] inside a circular window with a one-pixel soft
    edge (so the result moves smoothly with a sub-pixel window position);
    with ``iterations`` > 1 the window is re-centred on the last centroid."""
    n0, n1 = image.shape
    x = np.arange(n0)[:, None]
    y = np.arange(n1)[None, :]
    point = np.asarray(centre, dtype=float)
    for _ in range(iterations):
        distance = np.hypot(x - point[0], y - point[1])
        weights = image * np.clip(radius + 0.5 - distance, 0.0, 1.0)
        total = weights.sum()
        if total <= 0:
            return np.array([np.nan, np.nan])
        point = np.array([(weights * x).sum() / total, (weights * y).sum() / total])
    return point


def _local_maxima(image: np.ndarray, floor: float) -> np.ndarray:
    from scipy import ndimage

    local = image == ndimage.maximum_filter(image, size=3)
    peaks = np.argwhere(local & (image > floor * image.max()))
    order = np.argsort(-image[tuple(peaks.T)], kind="stable")
    return peaks[order].astype(float)


def _target_peaks(target: np.ndarray, count: int, *, isolation_px: float = 0.0) -> np.ndarray:
    """The ``count`` strongest target peaks (above 5 % of the maximum) with no
    other peak (above 0.5 %) closer than ``isolation_px``."""
    strong = _local_maxima(target, 0.05)
    if isolation_px > 0 and len(strong):
        every = _local_maxima(target, 0.005)
        distance = np.hypot(*(strong[:, None, :] - every[None, :, :]).transpose(2, 0, 1))
        crowded = ((distance > 0) & (distance < isolation_px)).any(axis=1)
        strong = strong[~crowded]
    return strong[:count]


def _inside(point, radius, shape) -> bool:
    return all(radius <= p <= n - 1 - radius for p, n in zip(point, shape))


def _window_sum(image: np.ndarray, centre, radius: float) -> float:
    x = np.arange(image.shape[0])[:, None] - centre[0]
    y = np.arange(image.shape[1])[None, :] - centre[1]
    return float((image * np.clip(radius + 0.5 - np.hypot(x, y), 0.0, 1.0)).sum())


def _distortion_check(original: dict, distorted: dict, count: int) -> dict:
    params = distorted["params"]
    matrix = augment.elliptic_shift_matrix(params["ellipticity"], params["angle_rad"])
    shift = np.asarray(params["shift_px"])
    shape = original["cbed"].shape
    centre = np.array([shape[0] // 2, shape[1] // 2], dtype=float)
    radius = disk_radius_px(original["probe"]) + 1.0
    direct = _window_sum(original["cbed"], centre, radius)
    target_errors, moves, mismatch, unmoved = [], [], [], []
    for peak in _target_peaks(original["target"], count, isolation_px=ISOLATION_PX):
        before = _centroid(original["target"], peak, 2.5, iterations=3)
        predicted = centre + matrix @ (before - centre) + shift
        if not (_inside(before, radius, shape) and _inside(predicted, radius, shape)):
            continue
        after = _centroid(distorted["target"], np.round(predicted), 2.5, iterations=3)
        target_errors.append(np.linalg.norm(after - predicted))
        moves.append(np.linalg.norm(after - before))
        if _window_sum(original["cbed"], before, radius) < MIN_DISK_FRACTION * direct:
            continue  # too faint a disk to locate
        disk_before = _centroid(original["cbed"], before, radius)
        disk_after = _centroid(distorted["cbed"], predicted, radius)
        mismatch.append(np.linalg.norm((after - before) - (disk_after - disk_before)))
        # Control: the same measurement if the disks had stayed where they were.
        still = _centroid(original["cbed"], predicted, radius)
        unmoved.append(np.linalg.norm((after - before) - (still - disk_before)))
    probe_move = (_centroid(distorted["probe"], centre, shape[0])
                  - _centroid(original["probe"], centre, shape[0]))

    def stat(function, values):
        return float(function(values)) if values else None

    return {
        "n_peaks": len(moves),
        "n_disks": len(mismatch),
        "mean_target_displacement_px": stat(np.mean, moves),
        "max_target_displacement_px": stat(np.max, moves),
        "max_target_error_px": stat(np.max, target_errors),
        "median_target_minus_disk_displacement_px": stat(np.median, mismatch),
        "max_target_minus_disk_displacement_px": stat(np.max, mismatch),
        "median_unmoved_disk_mismatch_px": stat(np.median, unmoved),
        "probe_centroid_shift_px": float(np.linalg.norm(probe_move)),
    }


def _shot_noise_check(cbed: np.ndarray, dose: float, draws: int, rng) -> dict:
    total = cbed.sum()
    running = np.zeros_like(cbed)
    squares = np.zeros_like(cbed)
    for _ in range(draws):
        noisy = augment.shot_noise(cbed, dose, rng)
        running += noisy
        squares += noisy**2
    mean = running / draws
    variance = squares / draws - mean**2
    expected_variance = cbed * total / dose  # Poisson: variance = mean × (total / dose)
    lit = cbed > 0
    z = (mean[lit] - cbed[lit]) / np.sqrt(expected_variance[lit] / draws)
    return {
        "dose": float(dose),
        "draws": int(draws),
        "total_ratio": float(mean.sum() / total),
        "mean_z_rms": float(np.sqrt(np.mean(z**2))),
        "variance_ratio": float(variance.sum() * draws / (draws - 1) / expected_variance.sum()),
    }


def _seed_check(original: dict, settings: augment.AugmentSettings, seed: int, batch: int) -> dict:
    def augmented(batch_seed):
        return [augment.augment_triplet(original["cbed"], original["probe"], original["target"],
                                        settings, augment.rng_for(batch_seed, i))
                for i in range(batch)]

    first, again, other = augmented(seed), augmented(seed), augmented(seed + 1)
    same = all(np.array_equal(a, b) for x, y in zip(first, again) for a, b in zip(x[:3], y[:3]))
    same = same and all(x[3] == y[3] for x, y in zip(first, again))
    differs = any(not np.array_equal(x[0], y[0]) for x, y in zip(first, other))
    return {"batch": int(batch), "same_seed_same_batch": bool(same),
            "other_seed_differs": bool(differs)}


def augmentation_checks(gallery: dict, *, draws: int = 200, batch: int = 4,
                        peaks: int = CHECK_PEAKS) -> dict:
    """Measure the properties the augmentations promise, on the gallery's triplet.

    Parameters
    ----------
    gallery : dict
        Output of :func:`augmentation_gallery`.
    draws : int
        Shot-noise draws averaged at the low dose.
    batch : int
        Triplets in the same-seed check.
    peaks : int
        Strongest target peaks followed through the distortion.

    Returns
    -------
    dict
        ``distortion`` [px]: for the strongest isolated target peaks, how far
        they moved and their largest error against the drawn affine map; for
        their CBED disks bright enough to locate (centroid within the disk
        radius + 1 px), the median and largest difference between disk and
        target displacement, with a control (the median difference if the
        disks had not moved); how far the probe's centroid moved (it is
        distorted but not shifted);
        ``background``: total intensity after / before (1 by construction);
        ``shot_noise``: at the low dose, the draws' mean total over the
        original total, the RMS z-score of the per-pixel mean against the
        original (≈ 1 for an unbiased, Poisson-limited mean) and the
        measured over the Poisson variance; ``seed``: a batch augmented
        twice with the same seed is identical, and differs with another.
    """
    if draws < 2 or batch < 1:
        raise ValueError(f"draws={draws}, batch={batch}: expected draws >= 2 and batch >= 1")
    panels = {p["name"]: p for p in gallery["panels"]}
    original = panels["original"]
    settings = augment.AugmentSettings(**{k: tuple(v) if isinstance(v, list) else v
                                          for k, v in gallery["settings"].items()})
    seed = gallery["seed"]
    return {
        "distortion": _distortion_check(original, panels["distortion"], peaks),
        "background": {"total_ratio": float(panels["background"]["cbed"].sum()
                                            / original["cbed"].sum())},
        "shot_noise": _shot_noise_check(original["cbed"], panels["shot_noise_low"]["params"]
                                        ["dose"], draws, _rng(seed, 100)),
        "seed": _seed_check(original, settings, seed, batch),
    }


# --------------------------------------------------------------------------- #
# Figure
# --------------------------------------------------------------------------- #
def _panel_title(panel: dict) -> str:
    p = panel["params"]
    name = panel["name"]
    if name == "original":
        return "original (simulated)"
    if name == "distortion":
        return ("(i–ii) elliptic distortion + shift\n"
                f"e = {100 * p['ellipticity']:.1f} %, shift ({p['shift_px'][0]:+.1f}, "
                f"{p['shift_px'][1]:+.1f}) px")
    if name == "background":
        return (f"(iii) plasmon background\nw = {p['background_weight']:.3f}, "
                f"q_L = {p['background_q_px']:.1f} px")
    if name.startswith("shot_noise"):
        level = "low" if name.endswith("low") else "high"
        return f"(iv) shot noise, {level} dose\n{p['dose']:.0e} e⁻ per pattern"
    if name == "bad_pixels":
        return f"(v) hot / dead pixels\n{p['hot']} hot, {p['dead']} dead"
    parts = []
    if "ellipticity" in p:
        parts.append(f"e = {100 * p['ellipticity']:.1f} %")
    if "background_weight" in p:
        parts.append(f"w = {p['background_weight']:.3f}")
    if "dose" in p:
        parts.append(f"{p['dose']:.0e} e⁻")
    return "all five combined\n" + ", ".join(parts)


def _log_image(ax, image, vmax, decades, cmap):
    from matplotlib.colors import LogNorm

    vmin = vmax * 10.0**-decades
    return ax.imshow(np.clip(image, vmin, None), norm=LogNorm(vmin=vmin, vmax=vmax), cmap=cmap,
                     interpolation="nearest")


def _difference(ax, panel, original):
    if panel["name"] == "original":
        ax.text(0.5, 0.5, "reference", ha="center", va="center", transform=ax.transAxes,
                fontsize=8, color="0.4")
        ax.set_facecolor("0.95")
        return None
    change = panel["cbed"] - original["cbed"]
    scale = float(np.percentile(np.abs(change), 99.5)) or float(np.abs(change).max()) or 1.0
    image = ax.imshow(change, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    ax.text(0.03, 0.03, f"±{scale:.2g}", transform=ax.transAxes, fontsize=7, color="black",
            bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "lw": 0})
    return image


def plot_fig1b(gallery: dict, *, triplet: dict | None = None):
    """Draw Fig. 1b from :func:`augmentation_gallery`.

    Parameters
    ----------
    gallery : dict
        Output of :func:`augmentation_gallery`.
    triplet : dict, optional
        Output of :func:`pick_triplet`, named in the title.

    Returns
    -------
    matplotlib.figure.Figure
        One column per panel (original, the five augmentations — shot noise
        at two doses — and all combined); rows: the CBED pattern (log scale,
        bad pixels circled), its change from the original (linear, symmetric
        scale printed in each panel, clipped at the 99.5th percentile of
        |change|), the target (log scale, with circles at the original's
        peaks so that its motion shows) and the probe.
    """
    from matplotlib.figure import Figure

    panels = gallery["panels"]
    original = panels[0]
    n = len(panels)
    figure = Figure(figsize=(2.1 * n + 1.0, 9.6), layout="constrained")
    grid = figure.add_gridspec(4, n + 1, width_ratios=[1] * n + [0.06])
    cbed_max = 1.05 * original["cbed"].max()  # hot pixels and noise peaks saturate
    target_max = original["target"].max()
    peaks = _target_peaks(original["target"], 200)
    rows = ("CBED (log)\nintensity / probe max", "CBED − original\n(linear)",
            "target (log)\n|V_g|·t [V·Å]", "probe\nintensity / max")
    images = [None] * 4
    for column, panel in enumerate(panels):
        axes = [figure.add_subplot(grid[row, column]) for row in range(4)]
        images[0] = _log_image(axes[0], panel["cbed"], cbed_max, CBED_DECADES, "inferno")
        if panel["name"] == "bad_pixels":
            hot = np.argwhere(panel["cbed"] > original["cbed"])
            dead = np.argwhere((panel["cbed"] == 0) & (original["cbed"] > 0))
            for where, colour in ((hot, "red"), (dead, "cyan")):
                axes[0].scatter(where[:, 1], where[:, 0], s=60, facecolors="none",
                                edgecolors=colour, linewidths=1.0)
        difference = _difference(axes[1], panel, original)
        images[1] = difference if difference is not None else images[1]
        images[2] = _log_image(axes[2], panel["target"], target_max, TARGET_DECADES, "viridis")
        axes[2].scatter(peaks[:, 1], peaks[:, 0], s=36, facecolors="none", edgecolors="white",
                        linewidths=0.6)
        images[3] = axes[3].imshow(panel["probe"], cmap="gray", vmin=0, vmax=1,
                                   interpolation="nearest")
        axes[0].set_title(_panel_title(panel), fontsize=8)
        for row, ax in enumerate(axes):
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(rows[row], fontsize=8)
    for row, image in enumerate(images):
        cax = figure.add_subplot(grid[row, n])
        colorbar = figure.colorbar(image, cax=cax)
        colorbar.ax.tick_params(labelsize=7)
        if row == 1:
            colorbar.set_ticks([])
            colorbar.set_label("− 0 +  (scale per panel)", fontsize=7)
    where = ""
    if triplet is not None:
        where = (f": {material_label(triplet['material_id'])} "
                 f"({triplet['zone'].replace('_', ' ')}, "
                 f"t = {triplet['thickness_nm']:g} nm, α = {triplet['semiangle_mrad']:g} mrad, "
                 f"{triplet['split']} split)")
    figure.suptitle(f"Fig. 1b — augmentation of one training triplet{where}, seed "
                    f"{gallery['seed']}\nwhite circles: target peaks before augmentation; red / "
                    "cyan circles: hot / dead pixels", fontsize=10)
    return figure
