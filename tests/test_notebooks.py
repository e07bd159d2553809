"""Run every teaching notebook in notebooks/ top to bottom in a fresh kernel.

Each notebook ends with asserts on what it claims, so executing it is its test: any error or failed
assert fails the test. New notebooks are picked up by the glob. The kernel runs in notebooks/ with the
repository root on PYTHONPATH, so it imports this checkout whether or not the package is installed.
NOTEBOOK_TIMEOUT (seconds, default 300) bounds the whole notebook, not each cell: a notebook's budget
is about a minute on two cores, the rest is slack for a cold numba cache.
"""
import os
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = float(os.environ.get("NOTEBOOK_TIMEOUT", 300))


def _kernel_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + TIMEOUT
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout_func=lambda cell: max(1.0, deadline - time.monotonic()),  # what is left of the notebook's budget
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # the kernel's working directory
    )
    client.execute(env=_kernel_env())
