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


def test_stream_changes_with_the_epoch(split):
    settings = augment.AugmentSettings(probability=1.0)
    first, second = (_stacked(epoch_stream.epoch_dataset(split, epoch=e, seed=5, settings=settings,
                                                         batch_size=4)) for e in (0, 1))
    assert not np.array_equal(first[0], second[0])


def test_bad_batch_size_and_shapes_are_refused(split):
    with pytest.raises(ValueError, match="expected a positive number"):
        epoch_stream.epoch_dataset(split, epoch=0, seed=0, settings=None, batch_size=0)
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
