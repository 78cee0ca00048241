"""Predict structure-factor images for a split and score them (Table I).

A trained model predicts targets multiplied by its ``target_scale`` (stored in
its card); :func:`predict_targets` divides it back out, so predictions are in
the targets' own units (V·Å) and SSIM compares like with like.
"""

from __future__ import annotations

import numpy as np

from . import metrics

__all__ = ["predict_targets", "ssim_by_zone", "ZONES"]

ZONES = ("on_zone", "off_zone")


def predict_targets(model, cbed: np.ndarray, probe: np.ndarray, *, target_scale: float,
                    batch_size: int = 32) -> np.ndarray:
    """Predict structure-factor images for a stack of patterns.

    Parameters
    ----------
    model : keras.Model
        Inputs ``[cbed, probe]`` ``[B, N, N, 1]``; output ``[B, N, N, 1]``.
    cbed, probe : ndarray [n, N, N]
        Patterns and their vacuum probes.
    target_scale : float
        The factor the model was trained with (its card's ``target_scale``).
    batch_size : int
        Patterns per forward pass.

    Returns
    -------
    ndarray [n, N, N], float32
        Predictions in the targets' units.
    """
    cbed = np.asarray(cbed, dtype=np.float32)
    probe = np.asarray(probe, dtype=np.float32)
    if cbed.ndim != 3 or cbed.shape != probe.shape:
        raise ValueError(f"cbed {cbed.shape} and probe {probe.shape}: expected two [n, N, N] "
                         "stacks of one shape")
    if not target_scale > 0:
        raise ValueError(f"target_scale={target_scale}: expected a positive factor")
    out = np.empty(cbed.shape, dtype=np.float32)
    for start in range(0, len(cbed), batch_size):
        stop = start + batch_size
        pred = model.predict_on_batch([cbed[start:stop, ..., None], probe[start:stop, ..., None]])
        out[start:stop] = np.asarray(pred)[..., 0] / target_scale
    return out


def ssim_by_zone(predictions: np.ndarray, targets: np.ndarray, zones) -> dict:
    """Mean SSIM on and off zone (Table I's columns) and over all patterns.

    Returns
    -------
    dict
        ``{"on_zone": float, "off_zone": float, "all": float, "n": {...}}``;
        a zone with no pattern is ``None``.
    """
    zones = np.asarray(zones)
    if len(zones) != len(predictions) or len(predictions) != len(targets):
        raise ValueError("predictions, targets and zones: expected one entry per pattern")
    scores = np.array([metrics.ssim(p, t) for p, t in zip(predictions, targets)])
    result = {"n": {}}
    for zone in ZONES:
        chosen = zones == zone
        result[zone] = float(scores[chosen].mean()) if chosen.any() else None
        result["n"][zone] = int(chosen.sum())
    result["all"] = float(scores.mean())
    return result
