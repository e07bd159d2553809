"""Shared test configuration: hypothesis profiles and isolation of the library's global state.

Profiles (select with the HYPOTHESIS_PROFILE environment variable, default ``ci``):
  ci   deadline=None, few examples per test and a fixed draw (derandomize), so the whole suite
       stays fast on 2 cores and CI runs repeat exactly;
  dev  even fewer examples, for quick iteration (``HYPOTHESIS_PROFILE=dev pytest -x -q``);
  thorough  many examples, to hunt for bugs before a release (minutes, not seconds).
A failing example is printed with its reproduction blob (no example database is written to the repo).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import tinygrad_rnn as tg
from tinygrad_rnn import autograd

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=8, derandomize=True, **_COMMON)
settings.register_profile("dev", max_examples=3, **_COMMON)
settings.register_profile("thorough", max_examples=150, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _isolate_global_state():
    """Every test starts with seed 0, grad mode on and its default dtype restored afterwards."""
    dtype, grad_mode = tg.get_default_dtype(), autograd.is_grad_enabled()
    tg.manual_seed(0)
    yield
    tg.set_default_dtype(dtype)
    autograd.set_grad_enabled(grad_mode)


@pytest.fixture
def default_dtype():
    """Call default_dtype(np.float64) to switch the default dtype for one test (restored afterwards)."""
    before = tg.get_default_dtype()

    def set_(dtype):
        tg.set_default_dtype(dtype)
        return np.dtype(dtype)

    yield set_
    tg.set_default_dtype(before)


@pytest.fixture
def float64(default_dtype):
    """The default dtype is float64 for the test (restored afterwards)."""
    return default_dtype(np.float64)


@pytest.fixture
def seed():
    """Call seed(s) to re-seed the library's generator; returns a NumPy Generator seeded alike."""
    def seed_(s=0):
        tg.manual_seed(s)
        return np.random.default_rng(s)

    return seed_
