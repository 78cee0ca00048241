import numpy as np
import pytest

from fcunet_lib import augment, epoch_stream, train

N = 64


@pytest.fixture(scope="module")
def split():
    """Eleven patterns: not a multiple of the batch sizes below, so the last batch is partial."""
    rng = np.random.default_rng(7)
    x, y = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    probe = (np.hypot(x - N // 2, y - N // 2) < 3).astype(np.float32)
    n = 11
    return {"cbed": rng.random((n, N, N)).astype(np.float32) + probe,
            "probe": np.repeat(probe[None], n, axis=0),
            "target": rng.random((n, N, N)).astype(np.float32)}


def _stacked(dataset):
    """The dataset's batches joined along the pattern axis: (cbed, probe, target)."""
    parts = [(c.numpy(), p.numpy(), t.numpy()) for (c, p), t in dataset]
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(3))


@pytest.mark.parametrize("settings, shuffle, target_norm", [
    (augment.AugmentSettings(probability=1.0), True, "pattern_max"),
    (None, False, "global"),
])
def test_stream_equals_the_assembled_epoch(split, settings, shuffle, target_norm):
    kwargs = dict(epoch=2, seed=5, settings=settings, shuffle=shuffle, target_norm=target_norm,
                  target_scale=0.5)
    (cbed, probe), target = train.make_epoch(split, **kwargs)
    streamed = epoch_stream.epoch_dataset(split, batch_size=4, parallel_calls=3, **kwargs)
    batch_sizes = [int(t.shape[0]) for _, t in streamed]
    assert batch_sizes == [4, 4, 3]
    for got, expected in zip(_stacked(streamed), (cbed, probe, target)):
        assert got.dtype == np.float32 and got.shape == expected.shape == (11, N, N, 1)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kwargs", [dict(parallel_calls=1, prefetch_batches=1), dict(autotune=True)])
def test_worker_count_and_autotuning_do_not_change_the_batches(split, kwargs):
    settings = augment.AugmentSettings(probability=1.0)
    common = dict(epoch=1, seed=3, settings=settings, batch_size=4)
    reference = _stacked(epoch_stream.epoch_dataset(split, parallel_calls=2, **common))
    for got, expected in zip(_stacked(epoch_stream.epoch_dataset(split, **kwargs, **common)),
                             reference):
        np.testing.assert_array_equal(got, expected)


def test_autotuning_is_off_unless_asked(split):
    """With it on, each epoch ends only when tf.data's autotuning thread next wakes."""
    common = dict(epoch=0, seed=0, settings=None, batch_size=4)
    assert epoch_stream.epoch_dataset(split, **common).options().autotune.enabled is False
    assert epoch_stream.epoch_dataset(split, autotune=True, **common).options().autotune.enabled


def test_default_workers_leave_half_the_cores_to_training(monkeypatch):
    monkeypatch.setattr(epoch_stream.os, "cpu_count", lambda: 2)
    assert epoch_stream.default_parallel_calls() == 1
    monkeypatch.setattr(epoch_stream.os, "cpu_count", lambda: 16)
    assert epoch_stream.default_parallel_calls() == 8
    monkeypatch.setattr(epoch_stream.os, "cpu_count", lambda: None)
    assert epoch_stream.default_parallel_calls() == 1


def test_stream_changes_with_the_epoch(split):
    settings = augment.AugmentSettings(probability=1.0)
    first, second = (_stacked(epoch_stream.epoch_dataset(split, epoch=e, seed=5, settings=settings,
                                                         batch_size=4)) for e in (0, 1))
    assert not np.array_equal(first[0], second[0])


def test_bad_batch_size_and_shapes_are_refused(split):
    with pytest.raises(ValueError, match="expected a positive number"):
        epoch_stream.epoch_dataset(split, epoch=0, seed=0, settings=None, batch_size=0)
    for bad in (dict(parallel_calls=0), dict(prefetch_batches=0)):
        with pytest.raises(ValueError, match="expected positive numbers"):
            epoch_stream.epoch_dataset(split, epoch=0, seed=0, settings=None, batch_size=4, **bad)
    ragged = {**split, "probe": split["probe"][:, :-1]}
    with pytest.raises(ValueError, match=r"expected cbed, probe and target of one shape"):
        epoch_stream.epoch_dataset(ragged, epoch=0, seed=0, settings=None, batch_size=4)


def test_training_on_the_stream_gives_the_weights_of_training_on_arrays(split):
    """The shipped models were trained on assembled epochs; the stream must not change them."""
    import keras

    from fcunet_lib import models

    settings = augment.AugmentSettings(probability=1.0)
    weights = []
    for streamed in (False, True):
        keras.utils.set_random_seed(3)
        model = models.build_model("unet", input_size=N, base_filters=2, levels=2,
                                   convs_per_block=1, dropout=0.0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        if streamed:
            model.fit(epoch_stream.epoch_dataset(split, epoch=0, seed=1, settings=settings,
                                                 batch_size=4), epochs=1, shuffle=False,
                      verbose=0)
        else:
            inputs, target = train.make_epoch(split, epoch=0, seed=1, settings=settings)
            model.fit(inputs, target, batch_size=4, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    assert any(not np.allclose(w, 0) for w in weights[0])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(b, a)


def test_array_batches_evaluate_like_the_arrays(split):
    """Validation runs on array_batches; its loss must be what Keras gives for the arrays."""
    import keras

    from fcunet_lib import models

    (cbed, probe), target = train.make_epoch(split, epoch=0, seed=0, settings=None, shuffle=False)
    batches = epoch_stream.array_batches((cbed, probe), target, batch_size=4)
    assert batches.options().autotune.enabled is False
    got = _stacked(batches)
    for a, b in zip(got, (cbed, probe, target)):
        np.testing.assert_array_equal(a, b)
    keras.utils.set_random_seed(2)
    model = models.build_model("unet", input_size=N, base_filters=2, levels=2,
                               convs_per_block=1, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    from_arrays = model.evaluate((cbed, probe), target, batch_size=4, verbose=0)
    from_batches = model.evaluate(batches, verbose=0)
    assert from_arrays[0] > 0
    assert from_batches == from_arrays


def test_array_batches_refuse_bad_input(split):
    (cbed, probe), target = train.make_epoch(split, epoch=0, seed=0, settings=None)
    with pytest.raises(ValueError, match="expected positive numbers"):
        epoch_stream.array_batches((cbed, probe), target, batch_size=0)
    with pytest.raises(ValueError, match="expected one length"):
        epoch_stream.array_batches((cbed, probe[:-1]), target, batch_size=4)
