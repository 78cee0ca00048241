"""The per-energy breakdown of ``tools/validation_scores.py``."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from validation_scores import energies_of, scores_per_energy  # noqa: E402


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, 16, 16)).astype(np.float32) + 0.1


def test_scores_per_energy_splits_patterns_by_beam_energy():
    targets = _images(6, 0)
    predicted = targets.copy()
    predicted[3:] = _images(3, 1)  # the 80 kV patterns are predicted badly
    energies = np.array([300.0, 300.0, 300.0, 80.0, 80.0, 80.0])
    zones = np.array(["on_zone", "off_zone", "on_zone", "on_zone", "off_zone", "off_zone"])
    plain = [1.0, 0.8, 0.6, 0.2, 0.4, 0.0]
    diffracted = [0.5, 0.5, 0.5, 0.1, 0.1, 0.1]
    card = {"options": {"target_norm": "global"}}

    scores = scores_per_energy(predicted, targets, card, zones, plain, diffracted, energies)

    assert sorted(scores) == ["300", "80"]
    assert scores["300"]["patterns"] == 3 and scores["80"]["patterns"] == 3
    assert scores["300"]["ssim"]["all"] == pytest.approx(1.0, abs=1e-6)
    assert scores["300"]["ssim"]["n"] == {"on_zone": 2, "off_zone": 1}
    assert scores["80"]["ssim"]["all"] < 0.9
    assert scores["300"]["disk_accuracy"] == pytest.approx(0.8)
    assert scores["80"]["disk_accuracy"] == pytest.approx(0.2)
    assert scores["80"]["disk_accuracy_diffracted"] == pytest.approx(0.1)


def test_energies_of_repeats_each_jobs_energy_over_its_thicknesses():
    split = {"jobs": [{"energy_kv": 300, "thicknesses_nm": [5, 10, 20]},
                      {"energy_kv": 80.0, "thicknesses_nm": [8]}]}
    np.testing.assert_array_equal(energies_of(split), [300.0, 300.0, 300.0, 80.0])
