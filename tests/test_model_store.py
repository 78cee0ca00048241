import numpy as np
import pytest

import fcunet_lib as fl
from fcunet_lib import model_store, models


@pytest.fixture(scope="module")
def tiny_model():
    return models.build_model("fcunet", input_size=64, base_filters=2, levels=2,
                              convs_per_block=1, dropout=0.1)


def test_ship_then_load_gives_same_predictions(tmp_path, tiny_model):
    path = model_store.ship_model(tiny_model, "fcunet", {"library_hash": "abc"}, folder=tmp_path)
    card = model_store.read_card("fcunet", folder=tmp_path)
    assert card["sha256"] == model_store.sha256_of(path)
    assert card["library_hash"] == "abc" and card["file"] == "fcunet.keras"
    loaded = fl.load_model("fcunet", folder=tmp_path)
    x = [np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)] * 2
    np.testing.assert_allclose(loaded.predict(x, verbose=0), tiny_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert loaded.card["name"] == "fcunet"
    assert model_store.shipped_models(folder=tmp_path) == ["fcunet"]


def test_damaged_weights_are_named(tmp_path, tiny_model):
    path = model_store.ship_model(tiny_model, "unet", {}, folder=tmp_path)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(model_store.ModelChecksumError, match=r"unet.keras is damaged"):
        model_store.load_model("unet", folder=tmp_path)


def test_missing_model_lists_available(tmp_path, tiny_model):
    model_store.ship_model(tiny_model, "unet", {}, folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="available: unet"):
        model_store.load_model("fcunet", folder=tmp_path)
    (tmp_path / "unet.keras").unlink()
    with pytest.raises(FileNotFoundError, match="unet.keras is missing"):
        model_store.load_model("unet", folder=tmp_path)


def test_cpu_description_reads_the_model_and_vector_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n"
                       "flags\t\t: fpu sse2 avx2 fma avx512f\n\nprocessor\t: 1\n")
    assert model_store.cpu_description(cpuinfo) == {"cpu_model": "Example CPU 9000",
                                                    "cpu_flags": ["avx2", "fma", "avx512f"]}
    assert model_store.cpu_description(tmp_path / "absent") == {}
    assert {"processor", "cores", "platform"} <= set(model_store.machine_description())
