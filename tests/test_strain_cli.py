"""``fcunet strain``: end to end on a tiny scan, and every bad input stops before writing."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import py4DSTEM
import pytest

from fcunet_lib import atomic, disks, strain_cli, userdata

PIXEL = "0.0217"  # [1/Å]
SCAN = (4, 4)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 4×4 scan of an unstrained 64² lattice as .npy and EMD, a probe, and bad variants."""
    folder = tmp_path_factory.mktemp("inputs")
    scan = disks.synthetic_lattice_scan(SCAN, size=64)
    paths = {"npy": folder / "scan.npy", "emd": folder / "scan.h5", "probe": folder / "probe.npy"}
    np.save(paths["npy"], scan.data)
    py4DSTEM.save(str(paths["emd"]), py4DSTEM.DataCube(data=scan.data), mode="o")
    np.save(paths["probe"], scan.probe)
    nan = scan.data.copy()
    nan[0, 1, 10, 10] = np.nan
    lone_beam = disks.synthetic_lattice_scan(SCAN, size=64, g1=(80.0, 0.0), g2=(0.0, 80.0))
    bad = {"rank3": scan.data.reshape(16, 64, 64), "nan": nan, "negative": scan.data - 1.0,
           "probe32": scan.probe[:32, :32], "no_lattice": lone_beam.data}
    for name, array in bad.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], array)
    (folder / "scan.tif").write_bytes(b"\0")
    paths["tif"] = folder / "scan.tif"
    return paths


def _argv(files, out, *, data="npy", probe="probe", method="correlation", reference="0:2,0:2", extra=()):
    return ["strain", str(files[data]), "--probe", str(files[probe]), "--pixel-size", PIXEL,
            "--method", method, "--reference", reference, "--out", str(out), *extra]


@pytest.mark.parametrize("data", ["npy", "emd"])
def test_correlation_end_to_end(tmp_path, files, capsys, data):
    out = tmp_path / "results" / "scan"
    status = strain_cli.main(_argv(files, out, data=data, extra=("--energy-kv", "300", "--batch-size", "5")))
    assert status == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["scan.h5", "scan.png"]
    assert (out.parent / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "e_xx: mean" in capsys.readouterr().out

    read = py4DSTEM.read(str(out.parent / "scan.h5"))
    assert isinstance(read, py4DSTEM.BraggVectors)
    maps = read.get_from_tree("strain")
    for name in ("e_xx", "e_yy", "e_xy", "theta"):
        values = maps.get_slice(name).data
        assert values.shape == SCAN
        np.testing.assert_allclose(values, 0.0, atol=1e-4)  # unstrained lattice
    assert maps.get_slice("mask").data.all()
    assert read.get_from_tree("virtual_bright_field").data.shape == SCAN
    record = read.metadata[userdata.RESULTS_METADATA]
    assert record["method"] == "correlation" and record["reference_region"] == "0:2,0:2"
    assert record["energy_kv"] == 300.0


def _bad_cases(files, tmp_path):
    return {
        "missing input": ({"data": "missing"}, "nothere.npy: no such file"),
        "missing probe": ({"probe": "missing"}, "nothere.npy: no such file"),
        "wrong rank": ({"data": "rank3"}, "expected a 4D scan"),
        "probe shape": ({"probe": "probe32"}, r"shape \(32, 32\) but the scan's patterns are \(64, 64\)"),
        "nan": ({"data": "nan"}, r"NaN or infinite values \(first at scan position \(0, 1\)\)"),
        "negative": ({"data": "negative"}, "--clip-negative"),
        "unknown extension": ({"data": "tif"}, "unknown file type '.tif'"),
        "unknown method": ({"method": "hough"}, ("unknown method 'hough'; expected one of fcunet, "
                                                 "correlation")),
        "bad region": ({"reference": "0:2;0:2"}, "bad reference region '0:2;0:2'"),
        "empty region": ({"reference": "2:2,0:2"}, "empty"),
        "region outside": ({"reference": "0:2,3:5"}, "reaches outside the scan of 4×4"),
        "bad pixel size": ({"extra": ("--pixel-size", "-1")}, "pixel_size must be a positive"),
        "pixel size typo": ({"extra": ("--pixel-size", "0.02x")}, "pixel_size must be a number"),
        "bad energy": ({"extra": ("--energy-kv", "0")}, "energy_kv must be a positive"),
        "bad batch size": ({"extra": ("--batch-size", "2.5")}, "--batch-size must be a positive integer; got '2.5'"),
        "bad symmetry frames": ({"extra": ("--symmetry-frames", "3")},
                                "--symmetry-frames must be one of 1, 2, 4, 8; got '3'"),
        "no lattice": ({"data": "no_lattice"}, "fewer than three Bragg directions"),
    }


@pytest.mark.parametrize("case", ["missing input", "missing probe", "wrong rank", "probe shape", "nan",
                                  "negative", "unknown extension", "unknown method", "bad region",
                                  "empty region", "region outside", "bad pixel size", "pixel size typo",
                                  "bad energy", "bad batch size", "bad symmetry frames",
                                  "no lattice"])
def test_bad_input_exits_with_one_line_and_writes_nothing(tmp_path, files, capsys, case):
    files = {**files, "missing": tmp_path / "nothere.npy"}
    options, message = _bad_cases(files, tmp_path)[case]
    out = tmp_path / "results" / "scan"
    assert strain_cli.main(_argv(files, out, **options)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fcunet strain: error: ") and "\n" not in err
    assert re.search(message, err), err
    assert not out.parent.exists()


def test_fcunet_without_a_shipped_model_says_so(tmp_path, files, capsys):
    empty = tmp_path / "models"
    empty.mkdir()
    out = tmp_path / "scan"
    argv = _argv(files, out, method="fcunet", extra=("--models-dir", str(empty)))
    assert strain_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert f"no shipped model 'fcunet' in {empty}" in err and "--method correlation" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_negative_counts_accepted_with_clip_negative(tmp_path, files, capsys):
    out = tmp_path / "scan"
    with pytest.warns(UserWarning, match="negative pixels set to 0"):
        status = strain_cli.main(_argv(files, out, data="negative", extra=("--clip-negative",)))
    assert status == 0, capsys.readouterr().err
    assert userdata.read_results(tmp_path / "scan.h5").metadata["clip_negative"]


def test_out_never_replaces_the_input(tmp_path, files, capsys):
    scan = tmp_path / "scan.h5"
    scan.write_bytes(files["emd"].read_bytes())
    before = scan.read_bytes()
    argv = _argv({**files, "emd": scan}, tmp_path / "scan", data="emd")
    assert strain_cli.main(argv) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert scan.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5"]


def test_both_outputs_or_neither(tmp_path, files, monkeypatch):
    def failing_write(path, data, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic, "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        strain_cli.main(_argv(files, tmp_path / "scan"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, region", [("0:2,1:3", (0, 2, 1, 3)), (" 3:10 , 0:64 ", (3, 10, 0, 64))])
def test_parse_region(text, region):
    parsed = strain_cli.parse_region(text)
    assert (parsed.x0, parsed.x1, parsed.y0, parsed.y1) == region
    assert str(parsed) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["0:2", "0:2,1", "a:2,0:2", "0:2,0:2,0:2", "-1:2,0:2", "3:1,0:2", "0.5:2,0:2"])
def test_parse_region_refuses(text):
    with pytest.raises(ValueError, match="reference region"):
        strain_cli.parse_region(text)


def test_region_mask():
    mask = strain_cli.parse_region("1:3,0:2").mask((4, 5))
    assert mask.shape == (4, 5) and mask.sum() == 4 and mask[1:3, :2].all()


def test_module_import_is_light():
    # `fcunet --help` imports this module; py4DSTEM and TensorFlow load only when the command runs.
    code = ("import sys, fcunet_lib.strain_cli; "
            "print(sorted(m for m in ('py4DSTEM', 'tensorflow', 'keras', 'numpy') if m in sys.modules))")
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert listed.strip() == "[]"


def _disk_correlator(size=64, radius=3.0):
    """A saveable stand-in network: the pattern correlated with a disk, so its maxima are the disk centres."""
    keras = pytest.importorskip("keras")
    cbed = keras.Input((size, size, 1), name="cbed")
    probe = keras.Input((size, size, 1), name="probe")
    both = keras.layers.Concatenate()([cbed, probe])
    width = 2 * int(radius) + 1
    conv = keras.layers.Conv2D(1, width, padding="same", use_bias=False, name="structure_factor")
    model = keras.Model([cbed, probe], conv(both))
    q = np.arange(width) - width // 2
    kernel = np.zeros((width, width, 2, 1), np.float32)
    kernel[:, :, 0, 0] = np.hypot(*np.meshgrid(q, q, indexing="ij")) <= radius  # the probe channel is unused
    conv.kernel.assign(kernel / kernel.sum())
    return model


def test_fcunet_end_to_end_records_the_training_domain_warnings(tmp_path, files, capsys):
    from fcunet_lib import model_store

    folder = tmp_path / "models"
    model_store.ship_model(_disk_correlator(), "fcunet", {"model": "fcunet", "scale": "default",
                                                          "target_scale": 1.0}, folder=folder)
    out = tmp_path / "scan"
    argv = _argv(files, out, method="fcunet", extra=("--models-dir", str(folder), "--energy-kv", "80",
                                                     "--symmetry-frames", "1"))
    status = strain_cli.main(argv)
    err = capsys.readouterr().err
    assert status == 0, err
    assert "warning: the network was trained at 300 kV only and the data are at 80 kV" in err
    result = userdata.read_results(tmp_path / "scan.h5")
    assert "trained at 300 kV only" in result.metadata["training_domain_warnings"]
    assert result.metadata["model_sha256"] == model_store.read_card("fcunet", folder=folder)["sha256"]
    maps = py4DSTEM.read(str(tmp_path / "scan.h5")).get_from_tree("strain")
    np.testing.assert_allclose(maps.get_slice("e_xx").data, 0.0, atol=1e-3)  # unstrained lattice
