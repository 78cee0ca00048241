"""Disk finders: sub-pixel positions on synthetic lattices, shared coordinates, streaming."""

from __future__ import annotations

import types

import numpy as np
import pytest

from fcunet_lib import disks, metrics

PIXEL = 0.0217  # [1/Å]
G1, G2 = (11.3, 0.4), (-0.7, 12.9)  # [px], a general oblique lattice


@pytest.fixture(scope="module")
def scan():
    return disks.synthetic_lattice_scan((1, 2), size=64, g1=G1, g2=G2, probe_radius=3.0)


def _errors(found, true):
    """Matched-pair distances [px] and eq. (1) accuracy of found vs true peaks."""
    accuracy, terms = metrics.intensity_weighted_accuracy(found, true, pixel_size=PIXEL, full=True)
    found, true = metrics.as_peak_array(found), metrics.as_peak_array(true)
    matched_found, matched_true = found[terms["pred_index"]], true[terms["true_index"]]
    return np.hypot(*(matched_found[:, :2] - matched_true[:, :2]).T), accuracy, terms


def _gaussians(shape, peaks, sigma=1.0):
    qx, qy = np.mgrid[: shape[0], : shape[1]]
    image = np.zeros(shape)
    for x, y, amplitude in peaks:
        image += amplitude * np.exp(-((qx - x) ** 2 + (qy - y) ** 2) / (2 * sigma**2))
    return image


def _fixed_output_model(image):
    """A fake network: the same structure-factor image for every pattern."""

    def model(inputs):
        cbed, probe = inputs
        assert cbed.shape == probe.shape and cbed.shape[1:3] == image.shape
        return np.broadcast_to(image[None, ..., None], cbed.shape).copy()

    return model


# --------------------------------------------------------------------------- #
# Correlation
# --------------------------------------------------------------------------- #
def test_correlation_finds_every_disk_at_its_subpixel_centre(scan):
    bv = disks.find_disks_correlation(scan.data, scan.probe, pixel_size=PIXEL, kernel="flat")
    assert bv.Rshape == (1, 2) and bv.Qshape == (64, 64)
    for j in range(2):
        distance, accuracy, terms = _errors(bv.raw[0, j].data, scan.peaks[0, j])
        assert accuracy == pytest.approx(1.0)
        assert terms["n_matched"] == len(scan.peaks[0, j])
        assert distance.max() < 0.05
    centre = bv.raw[0, 0].data[np.argmax(bv.raw[0, 0].data["intensity"])]
    assert (centre["qx"], centre["qy"]) == pytest.approx((32.0, 32.0), abs=1e-3)


def test_correlation_default_sigmoid_kernel_and_datacube_input(scan):
    from py4DSTEM import DataCube

    from_array = disks.find_disks_correlation(scan.data, scan.probe, pixel_size=PIXEL, batch_size=1)
    from_cube = disks.find_disks_correlation(DataCube(data=scan.data), scan.probe, pixel_size=PIXEL)
    for j in range(2):
        np.testing.assert_allclose(from_array.raw[0, j].data["qx"], from_cube.raw[0, j].data["qx"])
        distance, accuracy, _ = _errors(from_array.raw[0, j].data, scan.peaks[0, j])
        assert accuracy == pytest.approx(1.0)
        assert distance.max() < 0.2  # the trench overlaps neighbours: small, real bias
    assert np.all(from_array.raw[0, 0].data["intensity"] > 0)  # correlation heights


def test_tune_correlation_picks_the_best_combination_on_validation_data(scan):
    patterns = scan.data[0]  # (n, Qx, Qy)
    grid = {"kernel": ("flat",), "minRelativeIntensity": (0.5, 0.001)}
    result = disks.tune_correlation(patterns, list(scan.peaks[0]), scan.probe, pixel_size=PIXEL, grid=grid)
    assert [options for options, _ in result["trials"]] == [
        {"kernel": "flat", "minRelativeIntensity": 0.5}, {"kernel": "flat", "minRelativeIntensity": 0.001}]
    assert result["best"] == {"kernel": "flat", "minRelativeIntensity": 0.001}
    assert result["score"] == pytest.approx(1.0)
    assert result["trials"][0][1] < result["score"]  # only the direct beam survives 0.5
    with pytest.raises(ValueError, match="unknown option"):
        disks.tune_correlation(patterns, list(scan.peaks[0]), scan.probe, pixel_size=PIXEL,
                               grid={"min_spacing": (1,)})


def test_tune_fcunet_peaks_predicts_once_and_drops_weak_false_peaks(scan):
    true = scan.peaks[0, 0].copy()
    true[:, 2] = 1.0
    between = true[:-1, :2] + 0.5 * np.asarray(G1)  # halfway to the next disk: no true peak there
    spurious = np.column_stack([between, np.full(len(between), 0.03)])
    calls = []

    def model(inputs):
        calls.append(len(inputs[0]))
        return _fixed_output_model(_gaussians((64, 64), np.concatenate([true, spurious])))(inputs)

    grid = {"minRelativeIntensity": (0.01, 0.05)}
    result = disks.tune_fcunet_peaks(scan.data[0], [true, true], scan.probe, model=model, pixel_size=PIXEL,
                                     grid=grid)
    assert sum(calls) == 2  # one prediction per pattern, whatever the grid's size
    assert [options for options, _ in result["trials"]] == [
        {"minRelativeIntensity": 0.01}, {"minRelativeIntensity": 0.05}]
    assert result["best"] == {"minRelativeIntensity": 0.05}
    assert result["trials"][0][1] < result["score"]
    edge = disks.fcunet_peak_options(pixel_size=PIXEL, probe_radius=disks.probe_disk(scan.probe)[0])[
        "edgeBoundary"]
    inside = np.all((np.round(true[:, :2]) >= edge) & (np.round(true[:, :2]) < 64 - edge), axis=1)
    again = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=model, pixel_size=PIXEL, **result["best"])
    assert disks.tune_fcunet_peaks(scan.data[0], [true[inside]] * 2, scan.probe, model=model, pixel_size=PIXEL,
                                   grid={"minRelativeIntensity": (0.05,)})["score"] == pytest.approx(
        metrics.intensity_weighted_accuracy(again.raw[0, 0].data, true[inside], pixel_size=PIXEL))
    with pytest.raises(ValueError, match="unknown option"):
        disks.tune_fcunet_peaks(scan.data[0], [true, true], scan.probe, model=model, pixel_size=PIXEL,
                                grid={"min_spacing": (1,)})
    with pytest.raises(ValueError, match="one true peak array per pattern"):
        disks.tune_fcunet_peaks(scan.data[0], [true], scan.probe, model=model, pixel_size=PIXEL)


def test_tuning_without_the_direct_beam_scores_the_diffracted_disks_only(scan):
    true = scan.peaks[0, 0].copy()
    true[:, 2] = 0.1
    true[np.argmin(np.hypot(true[:, 0] - 32, true[:, 1] - 32)), 2] = 1.0  # the direct beam at the centre
    model = _fixed_output_model(_gaussians((64, 64), true))
    grid = {"minRelativeIntensity": (0.5,)}  # keeps the direct beam alone
    kwargs = {"model": model, "pixel_size": PIXEL, "grid": grid}
    with_beam = disks.tune_fcunet_peaks(scan.data[0], [true, true], scan.probe, **kwargs)
    without = disks.tune_fcunet_peaks(scan.data[0], [true, true], scan.probe, direct_beam=False, **kwargs)
    assert with_beam["score"] > 0.1 and without["score"] == 0.0
    everything = disks.tune_correlation(scan.data[0], list(scan.peaks[0]), scan.probe, pixel_size=PIXEL,
                                        grid={"kernel": ("flat",)}, direct_beam=False)
    assert everything["score"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- #
# FCU-Net path with fake models
# --------------------------------------------------------------------------- #
def test_fcunet_peaks_at_subpixel_positions_with_amplitudes(scan):
    true = scan.peaks[0, 0].copy()
    true[:, :2] += np.random.default_rng(0).uniform(-0.4, 0.4, (len(true), 2))
    true[:, 2] *= 7.0  # |V_g| in model units
    model = _fixed_output_model(_gaussians((64, 64), true))
    bv = disks.find_disks_fcunet(scan.data, scan.probe, model=model, pixel_size=PIXEL)
    edge = disks.fcunet_peak_options(pixel_size=PIXEL, probe_radius=disks.probe_disk(scan.probe)[0])[
        "edgeBoundary"]
    pixel = np.round(true[:, :2])
    inside = np.all((pixel >= edge) & (pixel < 64 - edge), axis=1)
    for j in range(2):
        found = bv.raw[0, j].data
        assert found.dtype.names == ("qx", "qy", "intensity", "intensity_std")
        distance, _, terms = _errors(found, true[inside])
        assert terms["n_matched"] == inside.sum() == len(found)
        assert distance.max() < 1e-3
        np.testing.assert_allclose(found["intensity"][terms["pred_index"]],
                                   true[inside][terms["true_index"], 2], rtol=1e-3)
        assert np.all(found["intensity_std"] == 0)


def test_fcunet_reads_the_targets_spots_back(scan):
    # Targets are Gaussian spots of sigma 0.75 px whose peak value is |V_g|.
    from fcunet_lib.targets import render_spots

    rng = np.random.default_rng(3)
    true = scan.peaks[0, 0][2:12].copy()
    true[:, :2] += rng.uniform(-0.5, 0.5, (len(true), 2))
    true[:, 2] = rng.uniform(50, 500, len(true))  # [V·Å]
    model = _fixed_output_model(render_spots(true[:, :2], true[:, 2], pattern_size=64))
    found = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=model, pixel_size=PIXEL).raw[0, 0].data
    distance, accuracy, terms = _errors(found, true)
    assert accuracy == pytest.approx(1.0) and distance.max() < 1e-3
    np.testing.assert_allclose(found["intensity"][terms["pred_index"]], true[terms["true_index"], 2], rtol=1e-3)


def test_fcunet_accepts_a_datacube_and_keeps_its_calibration(scan):
    from py4DSTEM import DataCube

    cube = DataCube(data=scan.data)
    model = _fixed_output_model(_gaussians((64, 64), scan.peaks[0, 0]))
    from_cube = disks.find_disks_fcunet(cube, scan.probe, model=model, pixel_size=PIXEL)
    from_array = disks.find_disks_fcunet(scan.data, scan.probe, model=model, pixel_size=PIXEL)
    assert from_cube.calibration is cube.calibration
    assert from_array.calibration.get_Q_pixel_size() == PIXEL
    np.testing.assert_array_equal(from_cube.raw[0, 1].data, from_array.raw[0, 1].data)


def test_py4dstem_subpixel_modes_are_available(scan):
    true = scan.peaks[0, 0]
    model = _fixed_output_model(_gaussians((64, 64), true, sigma=1.5))
    for mode, tolerance in (("multicorr", 0.01), ("poly", 0.1), ("pixel", 0.75)):
        found = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=model, pixel_size=PIXEL,
                                        subpixel=mode).raw[0, 0].data
        distance, accuracy, _ = _errors(found, true)
        assert accuracy > 0.9 and distance.max() < tolerance, mode


def test_both_finders_report_the_same_coordinates(scan):
    # A "network" that outputs a sharp peak at every disk centre it is given.
    model = _fixed_output_model(_gaussians((64, 64), scan.peaks[0, 0], sigma=0.8))
    fcunet = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=model, pixel_size=PIXEL)
    correlation = disks.find_disks_correlation(scan.data[:, :1], scan.probe, pixel_size=PIXEL, kernel="flat")
    distance, accuracy, _ = _errors(fcunet.raw[0, 0].data, correlation.raw[0, 0].data)
    assert accuracy > 0.95 and distance.max() < 0.06


def test_streaming_keeps_each_pattern_at_its_scan_position():
    # Every position has its own lattice; the fake model blurs what it is given.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(1)
    g1 = np.array(G1) * rng.uniform(0.95, 1.05, (2, 3, 1))
    synthetic = disks.synthetic_lattice_scan((2, 3), size=48, g1=g1, g2=G2, probe_radius=2.5)

    def blur(inputs):
        return gaussian_filter(inputs[0], (0, 1.5, 1.5, 0))

    results = [disks.find_disks_fcunet(synthetic.data, synthetic.probe, model=blur, pixel_size=PIXEL,
                                       batch_size=b, upsample_factor=8) for b in (1, 4)]
    for i, j in np.ndindex(2, 3):
        first, second = (r.raw[i, j].data for r in results)
        np.testing.assert_array_equal(first, second)
        distance, accuracy, _ = _errors(first, synthetic.peaks[i, j])
        assert accuracy > 0.9 and np.median(distance) < 0.1


def test_resampling_to_the_model_pixel_size_maps_peaks_back(scan):
    zoom = 1.25  # data pixels are 1.25 model pixels
    true = scan.peaks[0, 0]
    on_model = true.copy()
    on_model[:, :2] = 40 + (true[:, :2] - 32) * zoom  # model grid: 80 px, centre 40
    model = _fixed_output_model(_gaussians((80, 80), on_model))
    bv = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=model, pixel_size=PIXEL * zoom,
                                 model_pixel_size=PIXEL)
    distance, accuracy, terms = _errors(bv.raw[0, 0].data, true)
    assert terms["n_matched"] >= len(true) - 4 and distance.max() < 1e-3


def test_crop_to_a_keras_style_model_input_size(scan):
    true = scan.peaks[0, 0]
    on_model = true.copy()
    on_model[:, :2] -= 32 - 24  # centred 48-px crop of the 64-px pattern
    image = _gaussians((48, 48), on_model)

    class KerasLike:
        inputs = [types.SimpleNamespace(shape=(None, 48, 48, 1))]

        def predict(self, *args, **kwargs):
            raise AssertionError("streaming must use predict_on_batch")

        def predict_on_batch(self, inputs):
            assert [x.shape for x in inputs] == [(5, 48, 48, 1)] * 2  # padded to batch_size
            return np.broadcast_to(image[None, ..., None], inputs[0].shape)

    bv = disks.find_disks_fcunet(scan.data, scan.probe, model=KerasLike(), pixel_size=PIXEL, batch_size=5)
    found = bv.raw[0, 1].data
    distance, _, terms = _errors(found, true)
    assert terms["n_matched"] == len(found) >= 9 and distance.max() < 1e-3


def test_mc_passes_give_a_per_peak_spread(scan):
    image = _gaussians((64, 64), scan.peaks[0, 0])
    rng = np.random.default_rng(2)

    def noisy(inputs):
        return image[None, ..., None] * rng.uniform(0.9, 1.1, (len(inputs[0]), 1, 1, 1))

    bv = disks.find_disks_fcunet(scan.data[:, :1], scan.probe, model=noisy, pixel_size=PIXEL, mc_passes=4)
    found = bv.raw[0, 0].data
    assert np.all(found["intensity_std"] > 0)
    assert np.all(found["intensity_std"] < 0.2 * found["intensity"])


def test_tiny_keras_fcunet_runs_end_to_end_with_mc_dropout(scan):
    keras = pytest.importorskip("keras")
    from fcunet_lib import models

    keras.utils.set_random_seed(0)
    model = models.build_model("fcunet", input_size=64, base_filters=2, levels=2, convs_per_block=1, dropout=0.2)
    # an untrained network predicts the empty image (zero-initialised output): give it random
    # output weights so its prediction has maxima
    kernel = model.get_layer("structure_factor").kernel
    kernel.assign(np.random.default_rng(0).normal(0, 0.3, tuple(kernel.shape)).astype("float32"))
    bv = disks.find_disks_fcunet(scan.data, scan.probe, model=model, pixel_size=PIXEL, mc_passes=2,
                                 batch_size=2, maxNumPeaks=5, upsample_factor=4)
    for j in range(2):
        found = bv.raw[0, j].data
        assert 0 < len(found) <= 5 and np.all(found["intensity"] > 0)
        assert np.all(np.isfinite(found["intensity_std"]))
    # the dropout masks are reseeded per call: the same seed gives the same peaks
    again = disks.find_disks_fcunet(scan.data, scan.probe, model=model, pixel_size=PIXEL, mc_passes=2,
                                    batch_size=2, maxNumPeaks=5, upsample_factor=4)
    for j in range(2):
        np.testing.assert_array_equal(again.raw[0, j].data, bv.raw[0, j].data)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
def _identity(inputs):
    return inputs[0]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d, p: (d[0], p), "4D array"),
        (lambda d, p: (d, p[:-1]), "must match the pattern shape"),
        (lambda d, p: (d, p[None]), "2D vacuum-probe"),
        (lambda d, p: (np.where(d > 500, np.nan, d), p), "NaN"),
        (lambda d, p: (d - 1.0, p), "negative"),
        (lambda d, p: (d, -p), "negative"),
        (lambda d, p: (d, 0 * p), "all zeros"),
    ],
)
@pytest.mark.parametrize("finder", ["fcunet", "correlation"])
def test_bad_data_raise_value_error(scan, finder, change, message):
    data, probe = change(scan.data, scan.probe)
    with pytest.raises(ValueError, match=message):
        if finder == "fcunet":
            disks.find_disks_fcunet(data, probe, model=_identity, pixel_size=PIXEL)
        else:
            disks.find_disks_correlation(data, probe, pixel_size=PIXEL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pixel_size": 0.0}, "positive reciprocal pixel size"),
        ({"pixel_size": PIXEL * 5}, "resampling by 5"),
        ({"batch_size": 0}, "positive integer"),
        ({"mc_passes": 1.5}, "positive integer"),
        ({"min_spacing": 3}, "unknown option"),
        ({"subpixel": "cubic"}, "subpixel must be one of"),
        ({"edgeBoundary": 4.5}, "non-negative integer"),
        ({"model": "fcunet.keras"}, "Keras model or a callable"),
    ],
)
def test_bad_options_raise_value_error(scan, kwargs, message):
    kwargs = {"model": _identity, "pixel_size": PIXEL, **kwargs}
    with pytest.raises(ValueError, match=message):
        disks.find_disks_fcunet(scan.data, scan.probe, **kwargs)


def test_bad_correlation_kernel_raises(scan):
    with pytest.raises(ValueError, match="kernel must be one of"):
        disks.find_disks_correlation(scan.data, scan.probe, pixel_size=PIXEL, kernel="bullseye")
    with pytest.raises(ValueError, match="kernel_radii"):
        disks.find_disks_correlation(scan.data, scan.probe, pixel_size=PIXEL, kernel_radii=(4, 1))


def test_default_options_follow_the_physics():
    fine = disks.fcunet_peak_options(pixel_size=PIXEL / 2, probe_radius=6.2)
    coarse = disks.fcunet_peak_options(pixel_size=PIXEL, probe_radius=3.1)
    assert fine["minSpacing"] == pytest.approx(2 * coarse["minSpacing"])
    assert coarse["minSpacing"] * PIXEL == pytest.approx(disks.MIN_G_SPACING)
    assert fine["edgeBoundary"] == 8 and coarse["edgeBoundary"] == 5
    wide = disks.correlation_peak_options(pixel_size=PIXEL, probe_radius=9.0)
    assert wide["minPeakSpacing"] == 9.0  # at least a correlation-peak half-width
