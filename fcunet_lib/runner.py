"""Run the paired notebooks end to end with papermill.

The ``.py`` file (jupytext percent format) is the source of every notebook.
:func:`reproduce` reads it with jupytext, checks the requested parameters
against its ``parameters`` cell, executes it with papermill (kernel
``python3``) into the git-ignored ``build/<scale>/notebooks/`` folder, and —
at the ``default`` scale with default parameters — refreshes the committed
``.ipynb`` so readers on GitHub and Binder see current outputs.  The
notebooks themselves write their figures through :mod:`fcunet_lib.results`.
"""

from __future__ import annotations

import ast
import copy
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import config

__all__ = [
    "NotebookFailed",
    "list_notebooks",
    "resolve_notebooks",
    "notebook_parameters",
    "parse_parameter",
    "validate_parameters",
    "run_notebook",
    "reproduce",
]

INJECTED_TAG = "injected-parameters"


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook and the cell."""


@dataclass(frozen=True)
class RunRecord:
    """What one notebook run produced."""

    name: str
    output: Path
    seconds: float


def list_notebooks(folder: Path | None = None) -> list[Path]:
    """Return the notebook sources ``NN_name.py`` in running order."""
    folder = Path(folder) if folder is not None else config.notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.py") if p.is_file())


def resolve_notebooks(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Select notebooks by number (``"01"``), stem (``"01_materials"``) or
    name (``"materials"``); all of them when ``only`` is empty.

    Raises
    ------
    ValueError
        If a selector matches no notebook, or more than one.
    """
    available = list_notebooks(folder)
    if not only:
        return available
    chosen = []
    for selector in only:
        key = selector.removesuffix(".py").removesuffix(".ipynb")
        matches = [p for p in available
                   if p.stem == key or p.stem[:2] == key or p.stem[3:] == key]
        if len(matches) != 1:
            names = ", ".join(p.stem for p in available) or "none"
            what = "no notebook" if not matches else "several notebooks"
            raise ValueError(f"{selector!r} matches {what}: expected one of {names}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _read_source(source: Path):
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def notebook_parameters(source: Path) -> dict:
    """Return the parameters declared in a notebook's ``parameters`` cell.

    Returns
    -------
    dict
        Parameter name -> papermill's description (``inferred_type_name``,
        ``default``, ``help``).

    Raises
    ------
    ValueError
        If the notebook has no cell tagged ``parameters``.
    """
    import papermill
    import nbformat
    import tempfile

    notebook = _read_source(Path(source))
    if not any("parameters" in cell.metadata.get("tags", []) for cell in notebook.cells):
        raise ValueError(f"{source}: expected a cell tagged 'parameters'")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "notebook.ipynb"
        nbformat.write(notebook, path)
        return papermill.inspect_notebook(str(path))


def parse_parameter(text: str) -> tuple[str, object]:
    """Parse ``key=value`` from the command line; the value is a Python
    literal (``3``, ``0.5``, ``[1, 2]``, ``True``) or else a string.

    Raises
    ------
    ValueError
        If ``text`` has no ``=`` or an empty key.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"parameter {text!r}: expected key=value with a Python identifier key")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key, value


def validate_parameters(source: Path, parameters: dict) -> None:
    """Check that every name in ``parameters`` is declared by the notebook.

    Raises
    ------
    ValueError
        Naming the unknown parameters and the declared ones.
    """
    declared = notebook_parameters(source)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(
            f"{Path(source).stem}: unknown parameter(s) {', '.join(unknown)}; "
            f"expected some of {', '.join(sorted(declared))}"
        )


def _strip_injected(notebook):
    """A copy without papermill's injected-parameters cell and metadata."""
    clean = copy.deepcopy(notebook)
    clean.cells = [c for c in clean.cells if INJECTED_TAG not in c.metadata.get("tags", [])]
    clean.metadata.pop("papermill", None)
    for cell in clean.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    return clean


def _explain_failure(source: Path, error: Exception) -> NotebookFailed:
    cell = getattr(error, "exec_count", None)
    index = getattr(error, "cell_index", None)
    ename = getattr(error, "ename", type(error).__name__)
    evalue = getattr(error, "evalue", str(error))
    where = f"cell {index}" if index is not None else "a cell"
    if cell is not None:
        where += f" (execution count {cell})"
    return NotebookFailed(f"{source.name} failed in {where}: {ename}: {evalue}")


def run_notebook(source: Path, *, scale: str, parameters: dict | None = None,
                 output_dir: Path | None = None, prepare_only: bool = False,
                 progress: bool = True) -> RunRecord:
    """Execute one notebook at ``scale`` with papermill.

    Parameters
    ----------
    source : path
        The notebook's ``.py`` source.
    scale : str
        Scale preset, passed as the ``scale`` parameter.
    parameters : dict, optional
        Further papermill parameters, validated against the notebook.
    output_dir : path, optional
        Where the executed notebook goes; default ``build/<scale>/notebooks``.
    prepare_only : bool
        Inject the parameters but do not execute (for nbval runs).
    progress : bool
        Show papermill's per-cell progress bar.

    Returns
    -------
    RunRecord
        Notebook name, executed notebook path and wall time [s].

    Raises
    ------
    NotebookFailed
        If a cell raises; the message names the notebook and the cell.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = Path(source)
    scale_name = config.get_scale(scale).name
    params = {"scale": scale_name, **(parameters or {})}
    validate_parameters(source, params)
    out_dir = Path(output_dir) if output_dir else config.build_dir() / scale_name / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{source.stem}.ipynb"
    _absolute_results_dir()
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            _read_source(source), str(output), parameters=params, kernel_name="python3",
            cwd=str(source.parent), prepare_only=prepare_only, progress_bar=progress,
        )
    except PapermillExecutionError as error:
        raise _explain_failure(source, error) from None
    return RunRecord(source.stem, output, time.perf_counter() - start)


def _absolute_results_dir() -> None:
    """Make a relative ``FCUNET_RESULTS_DIR`` absolute, from the caller's folder.

    The kernel runs in the notebook's folder, where a relative path would
    point somewhere else than the user meant.
    """
    override = os.environ.get("FCUNET_RESULTS_DIR")
    if override and not Path(override).is_absolute():
        os.environ["FCUNET_RESULTS_DIR"] = str(Path(override).resolve())


def _refresh_committed_notebook(source: Path, executed: Path) -> None:
    import nbformat

    notebook = _strip_injected(nbformat.read(executed, as_version=4))
    nbformat.write(notebook, source.with_suffix(".ipynb"))


def reproduce(*, scale: str = "default", only: list[str] | None = None,
              parameters: dict | None = None, output_dir: Path | None = None,
              prepare_only: bool = False, progress: bool = True, stream=sys.stdout) -> list:
    """Run the selected notebooks in order at ``scale``.

    At the ``default`` scale with no extra parameters the committed ``.ipynb``
    of each notebook is refreshed with the new outputs.

    Returns
    -------
    list of RunRecord
    """
    scale_name = config.get_scale(scale).name
    sources = resolve_notebooks(only)
    if not sources:
        raise ValueError(f"no notebooks found in {config.notebooks_dir()}")
    for source in sources:  # fail before running anything
        validate_parameters(source, {"scale": scale_name, **(parameters or {})})
    records = []
    for number, source in enumerate(sources, start=1):
        verb = "preparing" if prepare_only else "running"
        print(f"[{number}/{len(sources)}] {verb} {source.stem} (scale={scale_name})",
              file=stream, flush=True)
        record = run_notebook(source, scale=scale_name, parameters=parameters,
                              output_dir=output_dir, prepare_only=prepare_only,
                              progress=progress)
        if not prepare_only:
            print(f"    done in {record.seconds:.0f} s -> {record.output}", file=stream,
                  flush=True)
            if scale_name == "default" and not parameters:
                _refresh_committed_notebook(source, record.output)
        records.append(record)
    return records
