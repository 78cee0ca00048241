"""A training epoch streamed through ``tf.data``: augmentation on the fly, beside the training steps.

:func:`fcunet_lib.train.make_epoch` assembles a whole epoch in memory before
training on it, on one core while the network waits. :func:`epoch_dataset`
yields the same batches, in the same order, with each triplet prepared by
:func:`fcunet_lib.train.prepare_triplet` in ``tf.data`` worker threads while
the previous batches train, and without holding a second copy of the split.
Each triplet's augmentation is seeded by ``(seed, index, epoch)`` alone and
the map is ``deterministic``, so the stream equals ``make_epoch`` exactly and a
run trained on it gives the same weights.

``tf.data``'s autotuning is off by default here: with it every epoch took
10 ms · (2^k − 1) — 20.47, 40.95 or 81.91 s, then 81.91 s plus whole minutes —
whatever the steps took (``benchmarks/epoch_stream.py``), consistent with the
iterator's deletion waiting for the autotuning thread's next wake-up from a
sleep that doubles from 10 ms up to a minute. A fixed worker count and prefetch depth end
the epoch when its last batch has trained.
"""

from __future__ import annotations

import os

import numpy as np

from . import augment as fl_augment

__all__ = ["epoch_dataset", "array_batches", "default_parallel_calls"]


def epoch_dataset(data: dict, *, epoch: int, seed: int,
                  settings: fl_augment.AugmentSettings | None, batch_size: int,
                  target_scale: float = 1.0, target_norm: str = "global",
                  shuffle: bool = True, parallel_calls: int | None = None,
                  prefetch_batches: int = 2, autotune: bool = False):
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
        Triplets prepared at once; default :func:`default_parallel_calls`.
    prefetch_batches : int
        Batches prepared ahead of the training step.
    autotune : bool
        Let ``tf.data`` choose the worker count and prefetch depth instead
        (``tf.data.AUTOTUNE``); on CPUs this makes each epoch wait for the
        autotuner's thread at its end (see the module's docstring).

    Returns
    -------
    tf.data.Dataset
        Elements ``((cbed, probe), target)``, each float32 ``[b, N, N, 1]``,
        equal to the slices of ``make_epoch``'s arrays.

    Raises
    ------
    ValueError
        If ``batch_size``, ``parallel_calls`` or ``prefetch_batches`` is not
        positive, or the split's arrays differ in shape.
    """
    import tensorflow as tf

    from .train import epoch_order, prepare_triplet

    if int(batch_size) < 1:
        raise ValueError(f"batch_size={batch_size}: expected a positive number of patterns")
    calls = default_parallel_calls() if parallel_calls is None else int(parallel_calls)
    if calls < 1 or int(prefetch_batches) < 1:
        raise ValueError(f"parallel_calls={parallel_calls}, prefetch_batches={prefetch_batches}: "
                         "expected positive numbers")
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

    if autotune:
        calls = ahead = tf.data.AUTOTUNE
    else:
        ahead = int(prefetch_batches)
    dataset = (tf.data.Dataset.from_tensor_slices(order)
               .map(prepared, num_parallel_calls=calls, deterministic=True)
               .batch(int(batch_size))
               .prefetch(ahead))
    return _autotuning(dataset, autotune)


def array_batches(inputs, target, *, batch_size: int, prefetch_batches: int = 2):
    """In-memory arrays as a ``tf.data.Dataset`` of batches, in order, with autotuning off.

    What Keras makes of arrays passed to ``fit``/``evaluate`` (the same batches),
    without the wait for ``tf.data``'s autotuning thread at the end of each pass
    that Keras' own array adapter has on CPUs (see the module's docstring);
    used for the validation split, evaluated after every epoch.

    Parameters
    ----------
    inputs : tuple of array
        The model's inputs, e.g. ``(cbed, probe)``, each ``[n, ...]``.
    target : array
        ``[n, ...]``.
    batch_size : int
        Patterns per batch; the last batch holds the remainder.
    prefetch_batches : int
        Batches prepared ahead.

    Returns
    -------
    tf.data.Dataset
        Elements ``(inputs, target)`` batch by batch.

    Raises
    ------
    ValueError
        If ``batch_size`` or ``prefetch_batches`` is not positive, or the arrays
        differ in length.
    """
    import tensorflow as tf

    if int(batch_size) < 1 or int(prefetch_batches) < 1:
        raise ValueError(f"batch_size={batch_size}, prefetch_batches={prefetch_batches}: "
                         "expected positive numbers")
    lengths = {len(x) for x in (*inputs, target)}
    if len(lengths) != 1:
        raise ValueError(f"inputs and target of lengths {sorted(lengths)}: expected one length")
    return _autotuning(tf.data.Dataset.from_tensor_slices((tuple(inputs), target))
                       .batch(int(batch_size)).prefetch(int(prefetch_batches)), False)


def _autotuning(dataset, enabled: bool):
    """``dataset`` with ``tf.data``'s autotuning switched on or off."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = bool(enabled)
    return dataset.with_options(options)


def default_parallel_calls() -> int:
    """Triplets :func:`epoch_dataset` prepares at once unless told: half the cores, at least one.

    The other half is left to TensorFlow's compute threads; on the 2-core
    machine this project is measured on, that is one worker.

    Returns
    -------
    int
        ``max(1, os.cpu_count() // 2)``.
    """
    return max(1, (os.cpu_count() or 1) // 2)
