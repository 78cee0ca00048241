import numpy as np

from fcunet_lib import npz_cache


def test_round_trip_and_missing(tmp_path):
    path = tmp_path / "sub" / "a.npz"
    assert npz_cache.load_arrays(path, ("x",)) is None
    assert npz_cache.load_arrays(None, ("x",)) is None
    npz_cache.save_arrays(path, x=np.arange(3.0), y=np.ones((2, 2), np.float32))
    x, y = npz_cache.load_arrays(path, ("x", "y"))
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    assert y.dtype == np.float32 and y.shape == (2, 2)
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]  # no temporary file left


def test_damaged_or_incomplete_file_reads_as_missing(tmp_path):
    path = tmp_path / "a.npz"
    npz_cache.save_arrays(path, x=np.arange(3.0))
    assert npz_cache.load_arrays(path, ("x", "missing")) is None
    path.write_bytes(path.read_bytes()[:20])
    assert npz_cache.load_arrays(path, ("x",)) is None


def test_key_depends_on_content_not_order():
    a = npz_cache.cache_key({"b": (1, 2), "a": 1.5})
    assert a == npz_cache.cache_key({"a": 1.5, "b": [1, 2]})
    assert len(a) == 20 and a != npz_cache.cache_key({"a": 1.5, "b": [1, 3]})
