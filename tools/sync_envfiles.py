"""Generate environment.yml and binder/ from pyproject.toml, the one
hand-edited dependency list.

    python tools/sync_envfiles.py          # rewrite the files
    python tools/sync_envfiles.py --check  # exit 1 if any file drifted

tests/test_packaging.py runs the check, so the copies cannot drift.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Generated from pyproject.toml by tools/sync_envfiles.py; do not edit by hand.\n"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _python_version(project: dict) -> str:
    spec = project["requires-python"]
    if not spec.startswith(">="):
        raise ValueError(f"requires-python {spec!r}: expected the form '>=X.Y'")
    return spec[2:]


def expected_files() -> dict[str, str]:
    """Return relative path -> exact contents of every generated file."""
    project = _project()
    deps = project["dependencies"]
    test = project["optional-dependencies"]["test"]
    python = _python_version(project)
    pip_lines = "".join(f"      - {dep}\n" for dep in [*deps, *test])
    environment = (
        HEADER
        + "name: fcunet\n"
        + "channels:\n  - conda-forge\n"
        + f"dependencies:\n  - python={python}\n  - pip\n  - make\n"
        + "  - pip:\n" + pip_lines + "      - -e .\n"
    )
    requirements = HEADER + "".join(f"{dep}\n" for dep in deps)
    runtime = f"python-{python}\n"
    post_build = (
        "#!/bin/bash\n"
        + HEADER
        + "set -euo pipefail\n"
        + "# Binder ignores the root config when binder/ exists: install the package here.\n"
        + "pip install --no-deps -e .\n"
        + "# Open the jupytext .py sources as notebooks in JupyterLab.\n"
        + "jupytext-config set-default-viewer python\n"
    )
    return {
        "environment.yml": environment,
        "binder/requirements.txt": requirements,
        "binder/runtime.txt": runtime,
        "binder/postBuild": post_build,
    }


def drifted() -> list[str]:
    """Return the generated files whose contents differ from pyproject.toml."""
    stale = []
    for relative, text in expected_files().items():
        path = ROOT / relative
        if not path.is_file() or path.read_text() != text:
            stale.append(relative)
    return stale


def write() -> None:
    for relative, text in expected_files().items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if relative == "binder/postBuild":
            path.chmod(0o755)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report drift")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        if stale:
            print("out of date with pyproject.toml: " + ", ".join(stale)
                  + " (run: python tools/sync_envfiles.py)", file=sys.stderr)
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
