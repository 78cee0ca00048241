"""Reading users' scans and probes, the calibration, and the results file py4DSTEM reads back."""

from __future__ import annotations

import h5py
import numpy as np
import py4DSTEM
import pytest

from fcunet_lib import disks, strain, userdata

PIXEL = 0.0217  # [1/Å]


@pytest.fixture(scope="module")
def scan():
    return disks.synthetic_lattice_scan((2, 3), size=32, g1=(8.0, 0.0), g2=(0.0, 8.0), probe_radius=2.0)


@pytest.fixture(scope="module")
def found(scan):
    """Correlation Bragg vectors and their strain map (a 2×3 unstrained scan)."""
    bv = disks.find_disks_correlation(scan.data, scan.probe, pixel_size=PIXEL)
    return bv, strain.strain_map(bv)


def _npy(tmp_path, array, name="data.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


# --------------------------------------------------------------------------- #
# Scans
# --------------------------------------------------------------------------- #
def test_npy_scan_is_read_as_array(tmp_path, scan):
    loaded = userdata.load_datacube(_npy(tmp_path, scan.data))
    assert isinstance(loaded, np.ndarray) and loaded.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(loaded, scan.data)


def test_emd_scan_is_read_as_datacube(tmp_path, scan):
    path = tmp_path / "scan.h5"
    py4DSTEM.save(str(path), py4DSTEM.DataCube(data=scan.data), mode="o")
    loaded = userdata.load_datacube(path)
    assert isinstance(loaded, py4DSTEM.DataCube)
    np.testing.assert_array_equal(loaded.data, scan.data)


def test_emd_file_with_two_scans_needs_a_datapath(tmp_path, scan):
    path = tmp_path / "two.emd"
    py4DSTEM.save(str(path), [py4DSTEM.DataCube(data=scan.data, name="first"),
                              py4DSTEM.DataCube(data=2 * scan.data, name="second")], mode="o")
    with pytest.raises(ValueError, match="several data trees.*datapath"):
        userdata.load_datacube(path)
    loaded = userdata.load_datacube(path, datapath="second_root/second")
    np.testing.assert_array_equal(loaded.data, 2 * scan.data)


def test_plain_hdf5_scan_found_or_chosen(tmp_path, scan):
    one, two = tmp_path / "one.h5", tmp_path / "two.hdf5"
    with h5py.File(one, "w") as handle:
        handle["entry/scan"] = scan.data
        handle["entry/image"] = scan.probe
    with h5py.File(two, "w") as handle:
        handle["a"], handle["b"] = scan.data, scan.data
    np.testing.assert_array_equal(userdata.load_datacube(one), scan.data)
    with pytest.raises(ValueError, match=r"2 4D datasets \(a, b\).*datapath"):
        userdata.load_datacube(two)
    np.testing.assert_array_equal(userdata.load_datacube(two, datapath="b"), scan.data)
    with pytest.raises(ValueError, match="no dataset 'c'"):
        userdata.load_datacube(two, datapath="c")


def test_vendor_formats_go_through_import_file(tmp_path, scan, monkeypatch):
    calls = []

    def fake_import_file(path):
        calls.append(path)
        return py4DSTEM.DataCube(data=scan.data)

    monkeypatch.setattr(py4DSTEM, "import_file", fake_import_file)
    path = tmp_path / "scan.mib"
    path.write_bytes(b"\0")
    assert userdata.load_datacube(path).data.shape == scan.data.shape
    assert calls == [str(path)]


def test_damaged_vendor_file_is_named(tmp_path):
    path = tmp_path / "scan.dm4"
    path.write_bytes(b"not a DM4 file" * 10)
    with pytest.raises(ValueError, match=r"could not read .*scan\.dm4"):
        userdata.load_datacube(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.npy: no such file"):
        userdata.load_datacube(tmp_path / "nothere.npy")


def test_folder_is_refused(tmp_path):
    (tmp_path / "scan.npy").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        userdata.load_datacube(tmp_path / "scan.npy")


def test_unknown_extension_lists_known_ones(tmp_path):
    path = tmp_path / "scan.tif"
    path.write_bytes(b"\0")
    with pytest.raises(ValueError, match=r"unknown file type '\.tif'.*\.npy.*\.h5.*\.dm4"):
        userdata.load_datacube(path)


@pytest.mark.parametrize("shape, hint", [((32, 32), "single pattern"), ((6, 32, 32), "reshape"),
                                         ((1, 2, 3, 4, 5), "got shape")])
def test_wrong_rank_says_what_was_expected(tmp_path, shape, hint):
    with pytest.raises(ValueError, match=rf"expected a 4D scan \[rx, ry, qx, qy\].*{hint}"):
        userdata.load_datacube(_npy(tmp_path, np.ones(shape, np.float32)))


def test_nan_is_refused_with_its_position(tmp_path, scan):
    data = scan.data.copy()
    data[1, 2, 5, 5] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite.*scan position \(1, 2\)"):
        userdata.load_datacube(_npy(tmp_path, data))


def test_negative_counts_refused_or_clipped_on_request(tmp_path, scan):
    data = scan.data - 5.0
    path = _npy(tmp_path, data)
    with pytest.raises(ValueError, match=r"negative values.*clip_negative=True"):
        userdata.load_datacube(path)
    with pytest.warns(UserWarning, match="negative pixels set to 0"):
        clipped = userdata.load_datacube(path, clip_negative=True)
    np.testing.assert_array_equal(clipped, np.clip(data, 0, None))
    np.testing.assert_array_equal(np.load(path), data)  # the file is untouched


def test_complex_data_is_refused(tmp_path):
    with pytest.raises(ValueError, match="real-valued counts"):
        userdata.load_datacube(_npy(tmp_path, np.ones((1, 1, 4, 4), complex)))


# --------------------------------------------------------------------------- #
# Probes
# --------------------------------------------------------------------------- #
def test_probe_from_npy_emd_probe_and_emd_array(tmp_path, scan):
    as_probe, as_array = tmp_path / "probe.h5", tmp_path / "array.emd"
    py4DSTEM.save(str(as_probe), py4DSTEM.Probe(scan.probe), mode="o")
    py4DSTEM.save(str(as_array), np.asarray(scan.probe), mode="o")
    for path in (_npy(tmp_path, scan.probe, "probe.npy"), as_probe, as_array):
        probe = userdata.load_probe(path, pattern_shape=(32, 32))
        assert probe.dtype == np.float64
        np.testing.assert_allclose(probe, scan.probe)


def test_vacuum_scan_and_stack_are_averaged(tmp_path, scan):
    vacuum = np.stack([scan.probe * k for k in (1.0, 2.0, 3.0, 4.0)]).reshape(2, 2, 32, 32)
    np.testing.assert_allclose(userdata.load_probe(_npy(tmp_path, vacuum)), 2.5 * scan.probe, rtol=1e-6)
    stack = vacuum.reshape(4, 32, 32)
    np.testing.assert_allclose(userdata.load_probe(_npy(tmp_path, stack, "s.npy")), 2.5 * scan.probe, rtol=1e-6)


def test_probe_of_another_shape_is_refused(tmp_path, scan):
    expected = r"probe .*data\.npy has shape \(32, 32\) but the scan's patterns are \(64, 64\)"
    with pytest.raises(ValueError, match=expected):
        userdata.load_probe(_npy(tmp_path, scan.probe), pattern_shape=(64, 64))


@pytest.mark.parametrize("case, message", [("nan", "NaN"), ("zeros", "all zeros"), ("1d", "2D image"),
                                           ("negative", "negative values")])
def test_bad_probes(tmp_path, scan, case, message):
    probe = {"nan": np.where(scan.probe > 0, np.nan, 0.0), "zeros": np.zeros((32, 32)),
             "1d": np.ones(32), "negative": scan.probe - 1.0}[case]
    with pytest.raises(ValueError, match=message):
        userdata.load_probe(_npy(tmp_path, probe))


# --------------------------------------------------------------------------- #
# Calibration
# --------------------------------------------------------------------------- #
def test_electron_wavelength_at_known_energies():
    assert userdata.electron_wavelength(300) == pytest.approx(0.019687, abs=2e-6)
    assert userdata.electron_wavelength(80) == pytest.approx(0.041757, abs=2e-6)
    with pytest.raises(ValueError, match="positive voltage"):
        userdata.electron_wavelength(0)


def test_calibration_predicts_the_probe_radius():
    cal = userdata.Calibration(0.0217, energy_kv=300, semiangle_mrad=1.28)
    assert cal.probe_radius_px == pytest.approx(1.28e-3 / 0.019687 / 0.0217, rel=1e-4)
    assert userdata.Calibration(0.0217).probe_radius_px is None
    assert cal.to_dict() == {"pixel_size": 0.0217, "energy_kv": 300.0, "semiangle_mrad": 1.28}


@pytest.mark.parametrize("kwargs, message", [
    ({"pixel_size": 0}, "pixel_size must be a positive"),
    ({"pixel_size": float("nan")}, "pixel_size must be a positive"),
    ({"pixel_size": "abc"}, "pixel_size must be a number"),
    ({"pixel_size": 2.0}, "implausibly large"),
    ({"pixel_size": 0.02, "energy_kv": -300}, "energy_kv must be a positive"),
    ({"pixel_size": 0.02, "energy_kv": 5000}, "at most 3000"),
    ({"pixel_size": 0.02, "semiangle_mrad": 0}, "semiangle_mrad must be a positive"),
    ({"pixel_size": 0.02, "semiangle_mrad": 500}, "at most 200"),
])
def test_calibration_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        userdata.Calibration(**kwargs)


# --------------------------------------------------------------------------- #
# Results files
# --------------------------------------------------------------------------- #
def test_results_read_back_by_py4dstem(tmp_path, found):
    bv, result = found
    vbf = np.arange(6.0).reshape(2, 3)
    cal = userdata.Calibration(PIXEL, energy_kv=300, semiangle_mrad=1.0)
    path = userdata.save_results(tmp_path / "sub" / "out.h5", bv, result, calibration=cal,
                                 virtual_bright_field=vbf, metadata={"method": "correlation", "model": None})
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.h5"]  # no temporary left
    assert "strain" not in bv.treekeys  # the caller's vectors are not modified

    read = py4DSTEM.read(str(path))
    assert isinstance(read, py4DSTEM.BraggVectors) and tuple(read.Rshape) == (2, 3)
    np.testing.assert_array_equal(read.raw[1, 2].data["qx"], bv.raw[1, 2].data["qx"])
    assert read.calibration.get_Q_pixel_size() == pytest.approx(PIXEL)
    maps = read.get_from_tree("strain")
    assert list(maps.slicelabels) == list(userdata.STRAIN_SLICES)
    np.testing.assert_allclose(maps.get_slice("e_yy").data, result.e_yy)
    record = read.metadata[userdata.RESULTS_METADATA]
    assert record["method"] == "correlation" and record["energy_kv"] == 300.0
    np.testing.assert_allclose(record["g1_px"], result.g1)

    back = userdata.read_results(path)
    for name in ("e_xx", "e_yy", "e_xy", "theta", "mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    np.testing.assert_array_equal(back.virtual_bright_field, vbf)
    assert back.metadata["pixel_size_inv_A"] == pytest.approx(PIXEL)


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, found, monkeypatch):
    bv, result = found
    path = tmp_path / "out.h5"
    path.write_bytes(b"previous results")

    def broken_save(filepath, data, mode="w"):
        with open(filepath, "wb") as stream:
            stream.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(py4DSTEM, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        userdata.save_results(path, bv, result, calibration=userdata.Calibration(PIXEL))
    assert path.read_bytes() == b"previous results"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


@pytest.mark.parametrize("case, message", [
    ("suffix", "must end in .h5"), ("vbf", "virtual_bright_field has shape"),
    ("pixel", "calibrated at 0.0217 1/Å"), ("metadata", "metadata 'x' must be"),
])
def test_bad_results_write_nothing(tmp_path, found, case, message):
    bv, result = found
    name = "out.npy" if case == "suffix" else "out.h5"
    kwargs = {"calibration": userdata.Calibration(0.03 if case == "pixel" else PIXEL),
              "virtual_bright_field": np.zeros((3, 2)) if case == "vbf" else None,
              "metadata": {"x": object()} if case == "metadata" else None}
    with pytest.raises(ValueError, match=message):
        userdata.save_results(tmp_path / name, bv, result, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_read_results_refuses_other_files(tmp_path, scan):
    path = tmp_path / "scan.h5"
    py4DSTEM.save(str(path), py4DSTEM.DataCube(data=scan.data), mode="o")
    with pytest.raises(ValueError, match="not an fcunet results file"):
        userdata.read_results(path)
