"""Shared fixtures: the examples' outputs are produced once per test session."""

import matplotlib
import pytest

matplotlib.use("Agg")

from snippets.pipeline import build


@pytest.fixture(scope="session")
def outcomes():
    """Every example run (or recalled from the cache) and compared with its record."""
    return build.produce(execute=True)


@pytest.fixture(autouse=True)
def close_figures():
    """Examples draw with pyplot; close what each test left open."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
