"""Shared test setup: quiet progress bars and TensorFlow, and ordering.

The smoke-result regression tests (marker ``after_notebooks``) read what the
nbval notebook runs wrote, so they are moved after every notebook item when
`make test` collects ``tests`` and ``build/nbval`` in one session.
"""

import os

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("FCUNET_PROGRESS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "after_notebooks: reads results of the smoke notebook runs; runs last")


def pytest_collection_modifyitems(session, config, items):
    late = [item for item in items if item.get_closest_marker("after_notebooks")]
    early = [item for item in items if not item.get_closest_marker("after_notebooks")]
    items[:] = early + late


@pytest.fixture(scope="module")
def quick_abtem():
    """abTEM with estimated FFTW plans and no progress bars, for one test module.

    FFTW_MEASURE planning costs seconds per new size; estimates are enough here.
    """
    abtem = pytest.importorskip("abtem")
    with abtem.config.set({"fftw.planning_effort": "FFTW_ESTIMATE",
                           "diagnostics.progress_bar": False}):
        yield
