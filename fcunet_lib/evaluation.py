"""Predict structure-factor images for a split and score them (Table I).

A model trained with ``target_norm="global"`` predicts targets multiplied by
its ``target_scale`` (stored in its card); :func:`predict_targets` divides it
back out, so predictions are in the targets' own units (V·Å). A model trained
with ``target_norm="pattern_max"`` predicts each image as a fraction of its
own maximum (the direct beam), which no factor converts back without the
truth; :func:`targets_like_model` brings the true images to the model's units
instead, so SSIM always compares like with like.
"""

from __future__ import annotations

import numpy as np

from . import metrics

__all__ = ["predict_targets", "ssim_by_zone", "targets_like_model", "relative_to_truth",
           "target_norm_of", "ZONES"]

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


def target_norm_of(card: dict) -> str:
    """How a model's targets were normalised: its card's (or run state's)
    ``options["target_norm"]``; models trained before the option existed are
    ``"global"``."""
    return card.get("options", {}).get("target_norm", "global")


def targets_like_model(targets: np.ndarray, card: dict) -> np.ndarray:
    """True structure-factor images in the units of a model's predictions.

    Parameters
    ----------
    targets : ndarray [n, N, N]
        True images [V·Å].
    card : dict
        The model's card or run state (:func:`target_norm_of`).

    Returns
    -------
    ndarray [n, N, N], float32
        ``targets`` unchanged for ``"global"`` models (their predictions are
        converted to V·Å by :func:`predict_targets`); each image divided by its
        maximum for ``"pattern_max"`` models.
    """
    from .train import normalise_targets

    return normalise_targets(targets, target_norm_of(card))


def relative_to_truth(predictions: np.ndarray, targets: np.ndarray, card: dict):
    """Predictions and truths in units of each true image's maximum.

    The frame in which :func:`fcunet_lib.metrics.ssim` compares them, and in
    which models trained with either ``target_norm`` can be shown side by
    side on one colour scale.

    Parameters
    ----------
    predictions : ndarray [n, N, N]
        :func:`predict_targets` output of the model of ``card``.
    targets : ndarray [n, N, N]
        True images [V·Å].
    card : dict
        The model's card (:func:`target_norm_of`).

    Returns
    -------
    (predictions, targets) : two float32 ndarrays [n, N, N]
        Every true image peaks at 1; SSIM of the pair equals SSIM of the
        inputs.
    """
    from .train import image_maxima

    predictions = np.asarray(predictions, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {predictions.shape} and targets {targets.shape}: "
                         "expected one prediction per target")
    peak = image_maxima(targets)
    if target_norm_of(card) == "global":
        predictions = predictions / peak
    return predictions, targets / peak


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
