"""The paper's five augmentations, seeded, for training triplets.

A triplet is ``(cbed, probe, target)``, each an ``[N, N]`` array centred at
``(N//2, N//2)``. :func:`augment_triplet` applies, in the order of the paper:

1. elliptic distortion and sub-pixel pattern shift — one affine map applied to
   the CBED and the target alike (so target peaks move exactly as the disks);
   the probe gets the distortion (same projector optics) but not the shift
   (a vacuum probe is recorded centred);
2. a plasmon-like background: a Lorentzian ``1/(q² + q_L²)`` convolved with the
   probe, mixed in with weight ``w``;
3. shot noise for a total dose drawn log-uniformly (electrons per pattern);
   the expected value of every pixel is unchanged;
4. hot and dead pixels.

Every random draw comes from a ``numpy.random.Generator`` seeded from
``(seed, index)``, so the same seed gives the same batch whatever the order or
the worker that computes it. The functions are numpy-only; the training input
pipeline wraps them (tf.data or a plain generator) at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "AugmentSettings",
    "elliptic_shift_matrix",
    "warp",
    "plasmon_background",
    "add_background",
    "shot_noise",
    "bad_pixels",
    "augment_triplet",
    "rng_for",
]


@dataclass(frozen=True)
class AugmentSettings:
    """Ranges of the five augmentations (uniform unless noted).

    Attributes
    ----------
    max_ellipticity : float
        Largest relative difference of the two ellipse axes (0.02 = 2 %).
    max_shift_px : float
        Largest pattern shift along each axis [pixels], sub-pixel.
    background_weight : (float, float)
        Range of the plasmon background weight ``w``.
    background_q_px : (float, float)
        Range of the Lorentzian width ``q_L`` [pixels].
    dose_range : (float, float)
        Total dose per pattern [electrons], drawn log-uniformly.
    bad_pixel_fraction : float
        Largest fraction of hot plus dead pixels.
    probability : float
        Probability that each augmentation is applied to a triplet.
    """

    max_ellipticity: float = 0.05
    max_shift_px: float = 2.0
    background_weight: tuple[float, float] = (0.01, 0.1)
    background_q_px: tuple[float, float] = (2.0, 10.0)
    dose_range: tuple[float, float] = (1e5, 1e10)
    bad_pixel_fraction: float = 1e-3
    probability: float = 0.8

    def __post_init__(self):
        if not 0 <= self.max_ellipticity < 0.5:
            raise ValueError(f"max_ellipticity={self.max_ellipticity}: expected 0 <= e < 0.5")
        if self.max_shift_px < 0:
            raise ValueError(f"max_shift_px={self.max_shift_px}: expected >= 0 pixels")
        lo, hi = self.dose_range
        if not 0 < lo <= hi:
            raise ValueError(f"dose_range={self.dose_range}: expected 0 < low <= high electrons")
        if not 0 <= self.bad_pixel_fraction < 0.1:
            raise ValueError(f"bad_pixel_fraction={self.bad_pixel_fraction}: expected [0, 0.1)")
        if not 0 <= self.probability <= 1:
            raise ValueError(f"probability={self.probability}: expected [0, 1]")


def rng_for(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """Independent generator for one triplet, from ``(seed, epoch, index)``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index)]))


def elliptic_shift_matrix(ellipticity: float, angle_rad: float) -> np.ndarray:
    """2×2 map stretching by ``1 + e/2`` along ``angle`` and ``1 − e/2`` across it.

    Parameters
    ----------
    ellipticity : float
        Relative axis difference of the ellipse.
    angle_rad : float
        Direction of the long axis [rad] in the (qx, qy) plane.
    """
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    rotation = np.array([[c, -s], [s, c]])
    scale = np.diag([1 + ellipticity / 2, 1 - ellipticity / 2])
    return rotation @ scale @ rotation.T


def warp(image: np.ndarray, matrix: np.ndarray, shift_px=(0.0, 0.0)) -> np.ndarray:
    """Move the content at ``q`` (relative to the centre) to ``matrix @ q + shift``.

    Cubic-spline interpolation, zero outside; the centre is ``(N//2, N//2)``.

    Parameters
    ----------
    image : ndarray [N, N]
    matrix : ndarray [2, 2]
        Forward map of pattern coordinates.
    shift_px : (float, float)
        Translation [pixels] after the map.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image has shape {image.shape}: expected a 2D [N, N] pattern")
    centre = np.array([image.shape[0] // 2, image.shape[1] // 2], dtype=float)
    inverse = np.linalg.inv(matrix)
    # output pixel p samples input at inverse @ (p - centre - shift) + centre
    offset = centre - inverse @ (centre + np.asarray(shift_px, dtype=float))
    return ndimage.affine_transform(image, inverse, offset=offset, order=3, mode="constant",
                                    cval=0.0, prefilter=True)


def plasmon_background(probe: np.ndarray, q_l_px: float) -> np.ndarray:
    """Lorentzian ``1/(q² + q_L²)`` convolved with the probe, unit sum.

    Parameters
    ----------
    probe : ndarray [N, N]
        Vacuum probe image, centred.
    q_l_px : float
        Lorentzian width [pixels]; must be positive.
    """
    if q_l_px <= 0:
        raise ValueError(f"q_l_px={q_l_px}: expected a positive width in pixels")
    n0, n1 = probe.shape
    qx = np.fft.fftfreq(n0) * n0
    qy = np.fft.fftfreq(n1) * n1
    lorentz = 1.0 / (qx[:, None] ** 2 + qy[None, :] ** 2 + q_l_px**2)
    centred_probe = np.fft.ifftshift(probe)
    background = np.fft.fftshift(np.real(np.fft.ifft2(np.fft.fft2(lorentz)
                                                      * np.fft.fft2(centred_probe))))
    background = np.clip(background, 0, None)
    return background / background.sum()


def add_background(cbed: np.ndarray, background: np.ndarray, weight: float) -> np.ndarray:
    """``(1 − w)·cbed + w·background·sum(cbed)``: total intensity is kept."""
    if not 0 <= weight <= 1:
        raise ValueError(f"weight={weight}: expected 0 <= w <= 1")
    return (1 - weight) * cbed + weight * background * cbed.sum()


def shot_noise(cbed: np.ndarray, dose: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise for ``dose`` electrons in the whole pattern.

    The pattern is read as a probability map (``cbed / cbed.sum()``); counts are
    drawn and scaled back, so the expected value of every pixel is unchanged.

    Raises
    ------
    ValueError
        If the pattern has negative values or the dose is not positive.
    """
    if dose <= 0:
        raise ValueError(f"dose={dose}: expected a positive number of electrons")
    if np.any(cbed < 0):
        raise ValueError("cbed has negative values: expected non-negative intensities")
    total = cbed.sum()
    if total <= 0:
        return cbed.copy()
    counts = rng.poisson(cbed / total * dose)
    return counts * (total / dose)


def bad_pixels(cbed: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Set a ``fraction`` of pixels hot (pattern maximum × 2–10) or dead (0)."""
    out = cbed.copy()
    count = rng.binomial(out.size, fraction)
    if count == 0:
        return out
    flat = rng.choice(out.size, size=count, replace=False)
    hot = rng.random(count) < 0.5
    peak = out.max() if out.max() > 0 else 1.0
    values = np.where(hot, peak * rng.uniform(2, 10, count), 0.0)
    out.reshape(-1)[flat] = values
    return out


def augment_triplet(cbed: np.ndarray, probe: np.ndarray, target: np.ndarray,
                    settings: AugmentSettings, rng: np.random.Generator):
    """Apply the five augmentations to one triplet.

    Parameters
    ----------
    cbed, probe, target : ndarray [N, N]
        CBED pattern, vacuum probe and structure-factor target, centred.
    settings : AugmentSettings
    rng : numpy.random.Generator
        Source of every random draw (see :func:`rng_for`).

    Returns
    -------
    (cbed, probe, target, params)
        Augmented float32 arrays and a dict of the drawn parameters.
    """
    for name, array in (("cbed", cbed), ("probe", probe), ("target", target)):
        if np.ndim(array) != 2:
            raise ValueError(f"{name} has shape {np.shape(array)}: expected [N, N]")
    if not (np.shape(cbed) == np.shape(probe) == np.shape(target)):
        raise ValueError(f"shapes {np.shape(cbed)}, {np.shape(probe)}, {np.shape(target)}: "
                         "expected cbed, probe and target of one shape")
    p = settings.probability
    params = {}
    cbed, probe, target = (np.asarray(a, dtype=np.float64) for a in (cbed, probe, target))
    if rng.random() < p:
        e = rng.uniform(0, settings.max_ellipticity)
        angle = rng.uniform(0, np.pi)
        shift = rng.uniform(-settings.max_shift_px, settings.max_shift_px, 2)
        matrix = elliptic_shift_matrix(e, angle)
        cbed = np.clip(warp(cbed, matrix, shift), 0, None)
        target = np.clip(warp(target, matrix, shift), 0, None)
        probe = np.clip(warp(probe, matrix), 0, None)
        params.update(ellipticity=e, angle_rad=angle, shift_px=shift.tolist())
    if rng.random() < p:
        weight = rng.uniform(*settings.background_weight)
        q_l = rng.uniform(*settings.background_q_px)
        cbed = add_background(cbed, plasmon_background(probe, q_l), weight)
        params.update(background_weight=weight, background_q_px=q_l)
    if rng.random() < p:
        lo, hi = np.log10(settings.dose_range)
        dose = 10 ** rng.uniform(lo, hi)
        cbed = shot_noise(cbed, dose, rng)
        params.update(dose=dose)
    if rng.random() < p and settings.bad_pixel_fraction > 0:
        fraction = rng.uniform(0, settings.bad_pixel_fraction)
        cbed = bad_pixels(cbed, fraction, rng)
        params.update(bad_pixel_fraction=fraction)
    return (cbed.astype(np.float32), probe.astype(np.float32), target.astype(np.float32),
            params)
