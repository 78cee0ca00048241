"""Regression checks on the numbers the smoke-scale notebook runs write.

`make test` executes every notebook at the smoke scale under nbval first
(those items run before these: see conftest.py), writing
``build/smoke/figures/<name>.json``. Here each file is checked against the
results contract and against stored expectations in
``tests/expected/smoke/<name>.json`` with their tolerances.
"""

import json
import math
import os
from pathlib import Path

import pytest

from fcunet_lib import config, models, runner

pytestmark = pytest.mark.after_notebooks

EXPECTED = Path(__file__).parent / "expected" / "smoke"
RESULT_NAMES = [name for source in runner.list_notebooks()
                for name in config.NOTEBOOK_RESULTS[source.stem][1]]


def _read_smoke_json(path, written_by):
    """A JSON file of the smoke run: fails under ``make test`` if missing, skipped elsewhere."""
    if not path.is_file():
        if os.environ.get("FCUNET_REQUIRE_SMOKE") == "1":
            pytest.fail(f"{path} was not written by the smoke {written_by}")
        pytest.skip(f"{path} missing: run `make test` to execute the smoke {written_by} first")
    return json.loads(path.read_text())


def _smoke_record(name):
    return _read_smoke_json(config.results_dir("smoke") / f"{name}.json", "notebook run")


def _compare(actual, expected, tolerance, where):
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing"
            _compare(actual[key], value, tolerance, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, tolerance, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert math.isclose(actual, expected, rel_tol=tolerance["rtol"],
                            abs_tol=tolerance["atol"]), f"{where}: {actual} vs {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} vs {expected!r}"


@pytest.mark.parametrize("name", RESULT_NAMES)
def test_smoke_result_follows_the_contract(name):
    record = _smoke_record(name)
    assert record["name"] == name and record["scale"] == "smoke"
    for key in ("numbers", "data", "versions", "git_commit", "models", "library_hash"):
        assert key in record, key
    assert record["numbers"]
    assert (config.results_dir("smoke") / f"{name}.png").is_file()


@pytest.mark.parametrize("name", RESULT_NAMES)
def test_smoke_numbers_match_stored_expectations(name):
    expectation_file = EXPECTED / f"{name}.json"
    assert expectation_file.is_file(), f"store expectations in {expectation_file}"
    expectation = json.loads(expectation_file.read_text())
    record = _smoke_record(name)
    _compare(record["numbers"], expectation["numbers"], expectation["tolerance"], name)


@pytest.mark.parametrize("network", models.MODEL_NAMES)
def test_smoke_cards_record_their_training_domain(network):
    from fcunet_lib import training_run
    from fcunet_lib.training_domain import TrainingDomain

    card = _read_smoke_json(training_run.scale_models_dir("smoke") / f"{network}.json", "training run")
    assert "training_domain" in card
    assert TrainingDomain.from_card(card) == TrainingDomain.from_simulation(config.get_scale("smoke").simulation)


def test_smoke_hbn_run_names_the_untrained_energy_for_every_probe():
    from fcunet_lib import hbn

    record = _smoke_record("fig4_strain_hbn")
    warnings = record["numbers"]["training_domain_warnings"]
    assert set(warnings) == {probe.name for probe in hbn.PROBES}
    energy = record["numbers"]["energy_kv"]
    assert all(any(f"{energy:g} kV" in line for line in lines) for lines in warnings.values())
