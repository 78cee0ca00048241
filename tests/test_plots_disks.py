"""The Fig. 2 helpers of fcunet_lib.plots.disks on hand-built cases."""

import numpy as np
import pytest

from fcunet_lib.plots import disks as fig2


def disk_probe(n=32, radius=3.0):
    x, y = np.meshgrid(np.arange(n) - n // 2, np.arange(n) - n // 2, indexing="ij")
    return (np.hypot(x, y) <= radius).astype(float)


def test_probe_groups_follow_identical_probes():
    a, b = disk_probe(radius=2), disk_probe(radius=4)
    groups = fig2.probe_groups(np.stack([a, b, a, b, b]))
    assert [g.tolist() for g in groups] == [[0, 2], [1, 3, 4]]


def test_overlap_is_probe_diameter_against_closest_peaks():
    probe = disk_probe(radius=3.0)
    near = np.array([[10, 10, 1.0], [10, 15, 1.0]])   # 5 px apart < 6 px diameter
    far = np.array([[10, 10, 1.0], [10, 20, 1.0]])    # 10 px apart
    assert fig2.overlaps(near, probe)
    assert not fig2.overlaps(far, probe)
    assert not fig2.overlaps(near[:1], probe)


def test_categories_and_balanced_selection():
    categories = fig2.assign_categories(
        ["on_zone", "on_zone", "on_zone", "off_zone"], [4.0, 30.0, 30.0, 4.0],
        [False, False, True, False], thick_min_nm=25)
    assert categories.tolist() == ["thin", "thick", "overlapping", "off_zone"]
    many = np.array(["thin"] * 10 + ["thick"] * 2 + ["off_zone"] * 5)
    chosen = fig2.select_patterns(many, 6, seed=1)
    assert len(chosen) == 6 and (np.diff(chosen) > 0).all()
    assert set(many[chosen]) == {"thin", "thick", "off_zone"}
    assert (fig2.select_patterns(many, 6, seed=1) == chosen).all()
    with pytest.raises(ValueError):
        fig2.assign_categories(["on_zone"], [1.0, 2.0], [False], thick_min_nm=25)
    with pytest.raises(ValueError):
        fig2.select_patterns(many, 0)


def test_background_keeps_intensity_and_direct_beam_removal():
    probe = disk_probe()
    cbed = np.stack([probe * 2.0])
    mixed = fig2.with_background(cbed, probe[None], weight=0.1, q_l_px=4.0)
    assert mixed.sum() == pytest.approx(cbed.sum(), rel=1e-5)
    assert not np.allclose(mixed, cbed)
    peaks = np.array([[16.0, 16.0, 5.0], [16.0, 26.0, 1.0]])
    kept = fig2.without_direct_beam(peaks, 32)
    assert kept.tolist() == [[16.0, 26.0, 1.0]]


def test_accuracy_and_category_means():
    truth = np.array([[10.0, 10.0, 1.0], [20.0, 20.0, 1.0]])
    assert fig2.accuracy(truth, truth) == pytest.approx(1.0)
    assert fig2.accuracy(np.array([[10.0, 10.0, 0.0]]), truth) == 0.0
    half = fig2.accuracy(truth[:1], truth)
    assert 0 < half < 1
    means = fig2.category_means([1.0, 0.5, 0.0], ["thin", "thin", "off_zone"])
    assert means["thin"] == 0.75 and means["off_zone"] == 0.0 and means["all"] == 0.5
    assert means["thick"] is None


def test_fig2_names_the_network_behind_the_learned_peaks():
    truth = np.array([[16.0, 16.0, 1.0], [16.0, 24.0, 0.5]])
    example = {"category": "thin", "pattern": np.ones((32, 32)), "truth": truth, "label": "test",
               "peaks": {"correlation": truth, "fcunet": truth[:1]},
               "accuracy": {"correlation": 1.0, "fcunet": 0.7}}
    means = {method: {**{name: None for name in fig2.CATEGORIES}, "thin": 0.5, "all": 0.5}
             for method in fig2.METHODS}
    summary = {"accuracy": means, "accuracy_diffracted": means, "n_patterns": {"thin": 1}, "note": ""}
    figure = fig2.plot_fig2([example], summary, network_label="U-Net (spectral)")
    titles = [ax.get_title() for ax in figure.axes]
    assert "U-Net (spectral): accuracy 0.70" in "\n".join(titles)
    assert "(c) U-Net (spectral) peaks" in figure.get_suptitle()
    legend = [text.get_text() for text in figure.axes[-1].get_legend().get_texts()]
    assert "U-Net (spectral)" in legend and "FCU-Net" not in " ".join(legend)


def test_accuracy_by_zone_means_each_zone_and_rejects_mismatched_lengths():
    truth = [np.array([[10.0, 10.0, 1.0], [20.0, 20.0, 1.0]])] * 3
    found = [truth[0], truth[0][:1], np.array([[10.0, 10.0, 0.0]])]
    means = fig2.accuracy_by_zone(found, truth, ["on_zone", "off_zone", "on_zone"])
    half = fig2.accuracy(truth[0][:1], truth[0])
    assert means["on_zone"] == pytest.approx(0.5) and means["off_zone"] == pytest.approx(half)
    assert means["all"] == pytest.approx((1.0 + half) / 3)
    with pytest.raises(ValueError, match="one entry per pattern"):
        fig2.accuracy_by_zone(found[:2], truth, ["on_zone"] * 3)


def test_network_peak_tuning_pools_probe_groups_and_its_options_reach_the_finder():
    def spots(peaks, n=32, sigma=0.75):
        qx, qy = np.mgrid[:n, :n]
        return sum(a * np.exp(-((qx - x) ** 2 + (qy - y) ** 2) / (2 * sigma**2)) for x, y, a in peaks)

    truth = np.array([[16.0, 16.0, 1.0], [16.0, 24.0, 0.5], [24.0, 16.0, 0.5]])
    weak = np.array([[9.0, 9.0, 0.03], [9.0, 23.0, 0.03], [23.0, 23.0, 0.03]])  # far from every true peak
    images = np.stack([spots(np.concatenate([truth, weak]))] * 3)
    probes = np.stack([disk_probe(radius=2), disk_probe(radius=2), disk_probe(radius=3)])

    def identity(inputs):  # a "network" that returns its input: the images are the predictions
        return inputs[0]

    grid = {"minRelativeIntensity": (0.01, 0.05)}
    tuned = fig2.tune_network_by_probe(images, probes, [truth] * 3, model=identity, grid=grid)
    assert tuned["best"] == {"minRelativeIntensity": 0.05}
    assert tuned["trials"][0][1] < tuned["score"] == pytest.approx(1.0, abs=1e-6)
    default = fig2.network_peaks(images, probes, model=identity)
    tuned_peaks = fig2.network_peaks(images, probes, model=identity, network_options=tuned["best"])
    assert all(len(p) == 6 for p in default) and all(len(p) == 3 for p in tuned_peaks)
    both = fig2.find_peaks(images, probes, model=identity, network_options=tuned["best"],
                           correlation_options={"minRelativeIntensity": 0.05})
    assert [len(p) for p in both["fcunet"]] == [3, 3, 3]
