import dataclasses

import pytest

from fcunet_lib import config


def test_every_scale_resolves_and_is_frozen():
    for name in config.SCALE_NAMES:
        scale = config.get_scale(name)
        assert scale.name == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            scale.materials.n_systems = 1  # type: ignore[misc]


def test_scales_grow_from_smoke_to_paper():
    sizes = [config.get_scale(n).materials.n_systems for n in config.SCALE_NAMES]
    assert sizes == sorted(sizes)
    assert config.get_scale("smoke").materials.n_systems <= 12
    assert config.get_scale("default").materials.n_systems == 200


def test_paper_preset_carries_paper_sizes():
    paper = config.get_scale("paper")
    assert paper.materials.n_systems == 1000
    assert paper.simulation.pattern_size == 256
    assert paper.simulation.semiangles_mrad == (1.0, 2.0, 4.0)
    assert paper.simulation.thicknesses_nm[0] == 2 and paper.simulation.thicknesses_nm[-1] == 50
    assert len(paper.simulation.thicknesses_nm) == 25
    assert paper.simulation.zone_axes_per_system + paper.simulation.random_orientations_per_system == 10
    assert paper.training.batch_size == 256 and paper.training.dropout == 0.3


def test_pattern_sizes_are_powers_of_two_within_model_range():
    for name in config.SCALE_NAMES:
        n = config.get_scale(name).simulation.pattern_size
        assert 64 <= n <= 256 and n & (n - 1) == 0


def test_reciprocal_pixel_matches_paper():
    assert config.RECIPROCAL_PIXEL_SIZE == pytest.approx(0.0217, abs=1e-4)
    assert config.RECIPROCAL_PIXEL_SIZE == pytest.approx(1 / config.SIMULATION_CELL)


@pytest.mark.parametrize("bad", ["huge", "", None, "Default"])
def test_unknown_scale_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="expected one of smoke, default, full, paper"):
        config.get_scale(bad)


def test_results_dir_keeps_committed_figures_for_default_only(monkeypatch):
    monkeypatch.delenv("FCUNET_RESULTS_DIR", raising=False)
    assert config.results_dir("default") == config.repo_root() / "figures"
    assert config.results_dir("smoke") == config.repo_root() / "build" / "smoke" / "figures"
    with pytest.raises(ValueError):
        config.results_dir("nope")


def test_repo_root_env_override_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv("FCUNET_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pyproject.toml"):
        config.repo_root()


def test_to_dict_is_plain_data():
    data = config.get_scale("smoke").to_dict()
    assert data["simulation"]["pattern_size"] == 64
    assert isinstance(data["simulation"]["thicknesses_nm"], tuple | list)


def test_every_notebook_is_registered():
    stems = {p.stem for p in config.notebooks_dir().glob("[0-9][0-9]_*.py")}
    assert stems, "no notebooks found"
    assert stems <= set(config.NOTEBOOK_RESULTS)
