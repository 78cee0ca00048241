import json
import os
import subprocess
import sys

import nbformat
import pytest

from fcunet_lib import cli, runner

NOTEBOOK = '''# %% [markdown]
# # A tiny notebook

# %% tags=["parameters"]
scale = "default"
factor = 2

# %%
# Write what the parameters resolved to.
import json, pathlib
pathlib.Path("out.json").write_text(json.dumps({"scale": scale, "value": 21 * factor}))
'''

FAILING = '''# %% tags=["parameters"]
scale = "default"

# %%
x = 1

# %%
raise RuntimeError("boom at the third cell")
'''


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "01_tiny.py").write_text(NOTEBOOK)
    (tmp_path / "02_failing.py").write_text(FAILING)
    (tmp_path / "helper.py").write_text("x = 1\n")  # not a notebook: no NN_ prefix
    return tmp_path


def test_list_and_resolve(folder):
    assert [p.stem for p in runner.list_notebooks(folder)] == ["01_tiny", "02_failing"]
    for selector in ("01", "01_tiny", "tiny", "01_tiny.py"):
        assert [p.stem for p in runner.resolve_notebooks([selector], folder)] == ["01_tiny"]
    with pytest.raises(ValueError, match="expected one of 01_tiny, 02_failing"):
        runner.resolve_notebooks(["03"], folder)


def test_parameters_are_read_from_the_parameters_cell(folder):
    declared = runner.notebook_parameters(folder / "01_tiny.py")
    assert set(declared) == {"scale", "factor"}
    assert declared["factor"]["default"] == "2"


def test_unknown_parameter_is_a_clear_error(folder):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) facter; expected some of factor, scale"):
        runner.validate_parameters(folder / "01_tiny.py", {"facter": 3})


@pytest.mark.parametrize("text, expected", [("factor=3", ("factor", 3)),
                                            ("x=0.5", ("x", 0.5)),
                                            ("name=Si", ("name", "Si")),
                                            ("shape=(4, 4)", ("shape", (4, 4)))])
def test_parse_parameter(text, expected):
    assert runner.parse_parameter(text) == expected


@pytest.mark.parametrize("text", ["factor", "=3", "1x=2"])
def test_parse_parameter_rejects_malformed(text):
    with pytest.raises(ValueError, match="key=value"):
        runner.parse_parameter(text)


@pytest.mark.slow
def test_run_notebook_executes_with_parameters(folder, tmp_path):
    record = runner.run_notebook(folder / "01_tiny.py", scale="smoke", parameters={"factor": 3},
                                 output_dir=tmp_path / "out", progress=False)
    assert json.loads((folder / "out.json").read_text()) == {"scale": "smoke", "value": 63}
    executed = nbformat.read(record.output, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_a_relative_results_folder_means_the_callers_folder(tmp_path, monkeypatch):
    # the kernel runs in notebooks/, so the runner fixes the path before starting it
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FCUNET_RESULTS_DIR", "build/figures")
    runner._absolute_results_dir()
    assert os.environ["FCUNET_RESULTS_DIR"] == str(tmp_path / "build" / "figures")


def test_prepare_only_injects_without_running(folder, tmp_path):
    record = runner.run_notebook(folder / "01_tiny.py", scale="smoke", output_dir=tmp_path,
                                 prepare_only=True, progress=False)
    injected = [c for c in nbformat.read(record.output, as_version=4).cells
                if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'scale = "smoke"' in injected[0].source
    assert not (folder / "out.json").exists()


@pytest.mark.slow
def test_failure_names_notebook_and_cell(folder, tmp_path):
    with pytest.raises(runner.NotebookFailed, match=r"02_failing.py failed in cell \d+.*"
                                                   r"RuntimeError: boom at the third cell"):
        runner.run_notebook(folder / "02_failing.py", scale="smoke", output_dir=tmp_path,
                            progress=False)


def test_strip_injected_restores_the_source_cells(folder, tmp_path):
    record = runner.run_notebook(folder / "01_tiny.py", scale="smoke", output_dir=tmp_path,
                                 prepare_only=True, progress=False)
    clean = runner._strip_injected(nbformat.read(record.output, as_version=4))
    source = runner._read_source(folder / "01_tiny.py")
    assert [c.source for c in clean.cells] == [c.source for c in source.cells]
    assert "papermill" not in clean.metadata


def test_cli_reports_bad_input_with_exit_code(capsys):
    assert cli.main(["reproduce", "--scale", "smoke", "--only", "99_nothing"]) == 2
    assert "matches no notebook" in capsys.readouterr().err
    assert cli.main(["reproduce", "--scale", "smoke", "-p", "scale=paper"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--scale", "enormous"])


def test_cli_scales_prints_presets(capsys):
    assert cli.main(["scales", "smoke"]) == 0
    assert json.loads(capsys.readouterr().out)["smoke"]["materials"]["n_systems"] == 10


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "fcunet_lib.cli", "--help"],
                            capture_output=True, text=True, check=True)
    assert "reproduce" in result.stdout
