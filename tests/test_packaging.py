"""pyproject.toml is the one hand-edited dependency list; the rest follow it."""

import importlib.util
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_sync_tool():
    spec = importlib.util.spec_from_file_location("sync_envfiles", ROOT / "tools/sync_envfiles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_generated_environment_files_match_pyproject():
    stale = _load_sync_tool().drifted()
    assert stale == [], f"regenerate with `make envfiles`: {stale}"


def test_dependencies_are_pinned():
    project = _project()
    extras = [dep for group in project["optional-dependencies"].values() for dep in group]
    for dep in project["dependencies"] + extras:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", dep), dep


def test_design_card_packages_are_declared():
    project = _project()
    names = {re.split(r"[=<>\[]", d)[0].lower()
             for d in project["dependencies"] + project["optional-dependencies"]["test"]}
    for required in ("jupyterlab", "papermill", "jupytext", "tensorflow-cpu", "keras", "numpy",
                     "matplotlib", "py4dstem", "pymatgen", "abtem", "nbval"):
        assert required in names, required


def test_binder_installs_the_package_and_opens_py_as_notebooks():
    post_build = (ROOT / "binder/postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build
    assert "jupytext-config set-default-viewer" in post_build
    assert (ROOT / "binder/postBuild").stat().st_mode & 0o111


def test_console_script_points_at_cli():
    assert _project()["scripts"]["fcunet"] == "fcunet_lib.cli:main"


def test_ci_calls_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci/run").read_text()
