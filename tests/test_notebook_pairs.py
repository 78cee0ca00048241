"""Each notebook is a jupytext pair: the .py is the source, the .ipynb its
executed default-scale copy. The two must hold the same cells."""

import json

import jupytext
import pytest

from fcunet_lib import config, runner

SOURCES = runner.list_notebooks()


def test_there_are_notebooks():
    assert SOURCES


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} missing: run `make sync`"
    py_cells = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
    nb_cells = [(c.cell_type, c.source.strip()) for c in jupytext.read(ipynb).cells]
    assert py_cells == nb_cells, f"{source.name} and {ipynb.name} differ: run `make sync`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_parameters_cell_declares_scale(source):
    declared = runner.notebook_parameters(source)
    assert "scale" in declared
    assert declared["scale"]["default"].strip("'\"") == "default"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_default_results_come_with_an_executed_notebook(source):
    """A notebook whose results are committed in figures/ (the default run)
    must be committed executed, so readers see the outputs behind them."""
    results = [config.figures_dir() / f"{name}.json" for name in config.NOTEBOOK_RESULTS[source.stem][1]]
    if not any(path.is_file() for path in results):
        pytest.skip(f"{source.stem} has no default-scale results committed yet")
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any(c.get("outputs") for c in code), "commit the default-scale executed notebook"
    for path in results:
        assert path.is_file(), f"{path.name} missing although the notebook ran at default"
        assert json.loads(path.read_text())["scale"] == "default"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_has_no_papermill_leftovers(source):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    code = [c for c in notebook.cells if c.cell_type == "code"]
    for cell in code:
        assert "injected-parameters" not in cell.metadata.get("tags", [])
        if cell.get("outputs"):
            assert cell.get("execution_count") is not None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_py_source_has_no_papermill_metadata(source):
    # jupytext may write the filters of notebooks/jupytext.toml into the header
    # ("-papermill" in *_metadata_filter): that line is the cure, not the disease
    lines = [line for line in source.read_text().splitlines()
             if not line.lstrip("# ").startswith(("cell_metadata_filter", "notebook_metadata_filter"))]
    assert not [line for line in lines if "papermill" in line]
