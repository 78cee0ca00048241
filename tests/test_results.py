import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fcunet_lib import results  # noqa: E402


def test_write_results_holds_numbers_and_provenance(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = results.write_results(
        "demo_fig", {"ssim": {"fcunet": np.float32(0.5)}, "n": np.int64(3),
                     "curve": np.arange(3.0)},
        scale="smoke", figure=fig, data="simulated stand-in", units="percent",
        models={"fcunet": "abc"}, library_hash="123", folder=tmp_path)
    plt.close(fig)
    record = json.loads(path.read_text())
    assert record["numbers"] == {"ssim": {"fcunet": 0.5}, "n": 3, "curve": [0.0, 1.0, 2.0]}
    assert record["scale"] == "smoke"
    assert record["data"] == "simulated stand-in"
    assert record["units"] == "percent"
    assert record["models"] == {"fcunet": "abc"}
    assert record["library_hash"] == "123"
    assert "numpy" in record["versions"]
    assert record["git_commit"]
    png = tmp_path / "demo_fig.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results.read_results("demo_fig", scale="smoke", folder=tmp_path) == record


def test_identical_figures_give_identical_png_bytes(tmp_path):
    blobs = []
    for run in range(2):
        fig, ax = plt.subplots()
        ax.imshow(np.arange(16.0).reshape(4, 4))
        results.write_results("same", {"x": 1}, scale="smoke", figure=fig,
                              folder=tmp_path / str(run))
        plt.close(fig)
        blobs.append((tmp_path / str(run) / "same.png").read_bytes())
    assert blobs[0] == blobs[1]


@pytest.mark.parametrize("numbers, error", [({}, ValueError), ({"x": float("nan")}, ValueError),
                                            ({"x": object()}, TypeError)])
def test_bad_numbers_are_rejected(tmp_path, numbers, error):
    with pytest.raises(error):
        results.write_results("bad", numbers, scale="smoke", folder=tmp_path)
    assert not (tmp_path / "bad.json").exists()


def test_bad_name_and_scale_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="letters, digits"):
        results.write_results("../evil", {"x": 1}, scale="smoke", folder=tmp_path)
    with pytest.raises(ValueError, match="unknown scale"):
        results.write_results("ok", {"x": 1}, scale="medium", folder=tmp_path)


def test_missing_result_names_the_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        results.read_results("fig9", scale="smoke", folder=tmp_path)
