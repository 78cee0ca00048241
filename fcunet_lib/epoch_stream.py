"""A training epoch streamed through ``tf.data``: augmentation on the fly, beside the training steps.

:func:`fcunet_lib.train.make_epoch` assembles a whole epoch in memory before
training on it, on one core while the network waits. :func:`epoch_dataset`
yields the same batches, in the same order, with each triplet prepared by
:func:`fcunet_lib.train.prepare_triplet` in ``tf.data`` worker threads while
the previous batches train, and without holding a second copy of the split.
Each triplet's augmentation is seeded by ``(seed, index, epoch)`` alone and
the map is ``deterministic``, so the stream equals ``make_epoch`` exactly and a
run trained on it gives the same weights.
"""

from __future__ import annotations

import numpy as np

from . import augment as fl_augment

__all__ = ["epoch_dataset"]


def epoch_dataset(data: dict, *, epoch: int, seed: int,
                  settings: fl_augment.AugmentSettings | None, batch_size: int,
                  target_scale: float = 1.0, target_norm: str = "global",
                  shuffle: bool = True, parallel_calls: int | None = None):
    """One epoch of ``((cbed, probe), target)`` batches as a ``tf.data.Dataset``.

    Parameters
    ----------
    data : dict
        A split from :func:`fcunet_lib.train.load_split`: ``cbed``, ``probe``
        and ``target`` arrays ``[n, N, N]``.
    epoch, seed : int
        Select the order (:func:`fcunet_lib.train.epoch_order`) and every
        augmentation draw.
    settings : AugmentSettings or None
        Augmentation ranges; None streams the patterns unaugmented.
    batch_size : int
        Patterns per batch; the last batch holds the remainder.
    target_scale, target_norm
        As in :func:`fcunet_lib.train.make_epoch`.
    shuffle : bool
        False keeps the split's order.
    parallel_calls : int, optional
        Triplets prepared at once (default: ``tf.data.AUTOTUNE``).

    Returns
    -------
    tf.data.Dataset
        Elements ``((cbed, probe), target)``, each float32 ``[b, N, N, 1]``,
        equal to the slices of ``make_epoch``'s arrays.

    Raises
    ------
    ValueError
        If ``batch_size`` is not positive or the split's arrays differ in shape.
    """
    import tensorflow as tf

    from .train import epoch_order, prepare_triplet

    if int(batch_size) < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive number of patterns")
    shapes = {key: np.shape(data[key]) for key in ("cbed", "probe", "target")}
    if len(set(shapes.values())) != 1 or len(shapes["cbed"]) != 3:
        raise ValueError(f"split arrays of shapes {shapes}: expected cbed, probe and target "
                         "of one shape [n, N, N]")
    n, height, width = shapes["cbed"]
    order = epoch_order(n, epoch=epoch, seed=seed, shuffle=shuffle).astype(np.int64)

    def triplet(index):
        arrays = prepare_triplet(data, int(index), epoch=epoch, seed=seed, settings=settings,
                                 target_scale=target_scale, target_norm=target_norm)
        return tuple(np.asarray(a, np.float32)[..., None] for a in arrays)

    def prepared(index):
        cbed, probe, target = tf.numpy_function(triplet, [index], [tf.float32] * 3,
                                                stateful=False)
        shape = (height, width, 1)
        return (tf.ensure_shape(cbed, shape), tf.ensure_shape(probe, shape)), \
            tf.ensure_shape(target, shape)

    calls = tf.data.AUTOTUNE if parallel_calls is None else int(parallel_calls)
    return (tf.data.Dataset.from_tensor_slices(order)
            .map(prepared, num_parallel_calls=calls, deterministic=True)
            .batch(int(batch_size))
            .prefetch(tf.data.AUTOTUNE))
