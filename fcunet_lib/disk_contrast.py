"""How far dynamical contrast pulls the Bragg disks of the Fig. 3 multilayer.

In a thick crystal the intensity inside each disk is not flat: the
excitation error changes across the disk, so dynamical diffraction grades it,
and how it grades depends on the structure factors, i.e. on the composition.
Any detector that weighs intensity — template matching, or a network trained
to mark disk centres — is pulled towards the bright side, and if the layers
and the reference substrate are graded differently the pull reads as strain.

This module measures the pull model-free, on the simulated patterns
themselves: the intensity centroid of each disk against the plain centroid
of the same pixels (:func:`disk_centroid_pull`), per region of an on-zone
scan (:func:`disk_contrast_pull`) and against thickness
(:func:`contrast_pull_series`, one multislice run per region with exit
planes at every thickness).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from fcunet_lib import checks, npz_cache
from fcunet_lib.config import RECIPROCAL_PIXEL_SIZE
from fcunet_lib.multilayer import (SUBSTRATE, Multilayer, MultilayerScan, column_cache_key, column_specs,
                                   layer_profile, simulate_column)

__all__ = ["PULL_REFLECTIONS", "disk_centroid_pull", "disk_contrast_pull", "contrast_pull_series"]

#: Reflections whose disks :func:`disk_contrast_pull` reads, as (h, k) with
#: g = (h / a_x, k·√2 / a_yz): the four {111} and the (2 0 0), (0 2 2) pairs.
PULL_REFLECTIONS = {"111": ((1, 1), (1, -1), (-1, 1), (-1, -1)),
                    "200": ((2, 0), (-2, 0)), "022": ((0, 2), (0, -2))}


def disk_centroid_pull(pattern: np.ndarray, g_px, radius_px: float) -> np.ndarray:
    """Radial pull of each disk's intensity centroid.

    The intensity centroid of the pixels within ``radius_px`` of each disk's
    true centre, less the plain centroid of those pixels (so pixelation adds
    nothing: a uniform disk off the pixel grid is exactly unpulled),
    projected on its g.

    Parameters
    ----------
    pattern : ndarray of shape (N, N)
        One diffraction pattern, direct beam at (N//2, N//2).
    g_px : array of shape (n, 2)
        True disk centres relative to the direct beam [pixels, (qx, qy)].
    radius_px : float
        Radius of the disk region read [pixels]; keep it inside the disks.

    Returns
    -------
    ndarray of shape (n,)
        Outward shift of each centroid along its g, in percent of |g| (a
        shift of +1 % makes that g read 1 % long).
    """
    pattern = np.asarray(pattern, dtype=np.float64)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1]:
        raise ValueError(f"pattern must be a square 2D array; got shape {pattern.shape}")
    g_px = np.atleast_2d(np.asarray(g_px, dtype=np.float64))
    if g_px.shape[1] != 2 or not np.all(np.linalg.norm(g_px, axis=1) > 0):
        raise ValueError("g_px must be non-zero (qx, qy) vectors of shape (n, 2)")
    radius_px = checks.positive_number("radius_px", radius_px, "pixels")
    n = pattern.shape[0]
    qx, qy = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    pulls = []
    for g in g_px:
        inside = (qx - g[0]) ** 2 + (qy - g[1]) ** 2 <= radius_px**2
        weights = pattern[inside]
        if not inside.any() or not weights.sum() > 0:
            raise ValueError(f"no intensity within {radius_px} px of the disk at {tuple(g)}")
        centroid = np.array([qx[inside] @ weights, qy[inside] @ weights]) / weights.sum()
        unweighted = np.array([qx[inside].mean(), qy[inside].mean()])
        pulls.append(100.0 * ((centroid - unweighted) @ g) / (g @ g))
    return np.array(pulls)


def disk_contrast_pull(scan: MultilayerScan, sample: Multilayer, *,
                       pixel_size: float = RECIPROCAL_PIXEL_SIZE, radius_fraction: float = 0.9) -> dict:
    """Mean centroid pull of the {111}, (200) and (022) disks per region of an on-zone scan.

    One pattern per region is read (on zone, the positions of a region share
    one simulation) with :func:`disk_centroid_pull`; the disk region is
    ``radius_fraction`` of the probe's semiangle.

    Parameters
    ----------
    scan : MultilayerScan
        The on-zone scan (:func:`fcunet_lib.multilayer.simulate_scan`).
    sample : Multilayer
        Its sample (energy, semiangle, layer layout).
    pixel_size : float
        Reciprocal pixel size of the patterns [1/Å].
    radius_fraction : float
        Radius read, as a fraction of the disk radius.

    Returns
    -------
    dict
        ``{region: {family: pull [% of |g|]}}``, and the same relative to the
        substrate under ``"relative_to_substrate"``.

    Raises
    ------
    ValueError
        If the scan is tilted (its positions do not share patterns by region).
    """
    from fcunet_lib.userdata import electron_wavelength

    if any(np.any(np.asarray(spec.tilt_mrad) != 0) for spec in scan.specs):
        raise ValueError("disk_contrast_pull expects the on-zone scan (one pattern per region); "
                         "this scan is tilted")
    pixel_size = checks.reciprocal_pixel_size("pixel_size", pixel_size)
    radius = (checks.positive_number("radius_fraction", radius_fraction) * sample.semiangle_mrad * 1e-3
              / electron_wavelength(sample.energy_kv) / pixel_size)
    pulls = {}
    for rx, (region, spec) in enumerate(zip(layer_profile(sample)["region"], scan.specs)):
        if str(region) in pulls:
            continue
        pulls[str(region)] = {
            family: float(np.mean(disk_centroid_pull(scan.data[rx, 0], _g_vectors(spec, members, pixel_size),
                                                     radius)))
            for family, members in PULL_REFLECTIONS.items()}
    relative = {region: {family: value - pulls[SUBSTRATE][family] for family, value in by_family.items()}
                for region, by_family in pulls.items() if region != SUBSTRATE}
    return {**pulls, "relative_to_substrate": relative}


def contrast_pull_series(sample: Multilayer, thicknesses_nm, *, pattern_size: int, setting=None,
                         cache_dir=None, simulator=None) -> dict:
    """Disk-contrast pull against the substrate as a function of thickness.

    Each region's column is simulated once with exit planes at every
    thickness (:func:`fcunet_lib.multilayer.simulate_column`), on zone; each
    thickness is then read with :func:`disk_contrast_pull`.

    Parameters
    ----------
    sample : Multilayer
        The sample (its own ``thickness_nm`` is ignored).
    thicknesses_nm : sequence of float
        Strictly increasing thicknesses [nm].
    pattern_size : int
        N [pixels] at the model's pixel size.
    setting : SimulationSetting, optional
        Numerical setting (default: the library's).
    cache_dir : path, optional
        Folder of the on-disk cache (one ``.npz`` per region and series).
    simulator : callable, optional
        ``simulator(spec, thicknesses_nm) -> (patterns [T, N, N], probe)``;
        default: :func:`fcunet_lib.multilayer.simulate_column`.

    Returns
    -------
    dict
        ``thickness_nm`` (list) and ``relative_to_substrate``:
        ``{region: {family: [pull per thickness, % of |g|]}}``.
    """
    from fcunet_lib import simulate

    thicknesses = [checks.positive_number("thickness", t, "nm") for t in np.atleast_1d(thicknesses_nm)]
    if len(thicknesses) < 1 or np.any(np.diff(thicknesses) <= 0):
        raise ValueError(f"thicknesses_nm must be strictly increasing; got {list(thicknesses_nm)}")
    setting = simulate.DEFAULT_SETTING if setting is None else setting
    if simulator is None:
        def simulator(spec, series):
            return simulate_column(spec, energy_kv=sample.energy_kv, semiangle_mrad=sample.semiangle_mrad,
                                   thickness_nm=series, pattern_size=pattern_size, setting=setting)
    conditions = {"energy_kv": sample.energy_kv, "semiangle_mrad": sample.semiangle_mrad,
                  "thickness_series_nm": thicknesses, "pattern_size": int(pattern_size),
                  "setting": setting.to_dict()}
    specs = column_specs(sample, tilted=False)
    folder = Path(cache_dir) if cache_dir is not None else None
    series, probe = {}, None
    for spec in dict.fromkeys(specs):
        path = folder / f"{column_cache_key(spec, conditions)}.npz" if folder is not None else None
        cached = npz_cache.load_arrays(path, ("patterns", "probe"))
        if cached is None:
            cached = tuple(np.asarray(a, np.float32) for a in simulator(spec, thicknesses))
            if path is not None:
                npz_cache.save_arrays(path, patterns=cached[0], probe=cached[1])
        series[spec], probe = cached
    pulls = []
    for index in range(len(thicknesses)):
        data = np.stack([series[spec][index] for spec in specs])[:, None]
        scan = MultilayerScan(data=data, probe=probe, specs=specs, n_unique=len(series), n_simulated=0)
        pulls.append(disk_contrast_pull(scan, sample)["relative_to_substrate"])
    relative = {region: {family: [p[region][family] for p in pulls] for family in PULL_REFLECTIONS}
                for region in pulls[0]}
    return {"thickness_nm": thicknesses, "relative_to_substrate": relative}


def _g_vectors(spec, members, pixel_size):
    """Disk centres of the reflections ``members`` of one column [pixels]."""
    return [(h / spec.a_x_A / pixel_size, k * math.sqrt(2.0) / spec.a_yz_A / pixel_size) for h, k in members]
