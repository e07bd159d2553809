"""Scalar activations for the recurrent kernels: fast for float32, exact for float64.

``tanh(x)`` and ``sigmoid(x)`` are called element by element inside ``@njit`` loops. Their float32
versions are a clamped rational approximation (Eigen's: odd degree-13 over even degree-6 polynomial,
|error| < 4e-7), which LLVM vectorises, unlike libm's scalar ``tanhf``/``expf`` calls. The float64
versions keep libm's ``math.tanh``/``math.exp``: gradient checks at 1e-10 need the exact values.
The precision is chosen at compile time from the argument's type (``numba.extending.overload``);
the plain-Python fallbacks (run under ``NUMBA_DISABLE_JIT=1``) dispatch the same way at run time.
Both stay finite for any finite input (±1e4 included): sigmoid(x) = e/(1+e) with e = exp(-|x|) <= 1.

numba's on-disk cache of a kernel does not notice edits to this file: the generated kernels' cache
key hashes it (compiler/cache.py); for other kernels delete their cache files (``__pycache__/*.nbi``, ``*.nbc``).
"""
import math

import numpy as np
from numba import types
from numba.extending import overload

_CLAMP = np.float32(7.90531110763549805)  # beyond this tanh rounds to ±1 in float32
_A1, _A3 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04)
_A5, _A7 = np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08)
_A9 = np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
_HALF32 = np.float32(0.5)


def _tanh32(x):
    """tanh for float32: Eigen's clamped rational approximation."""
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = ((((((_A13 * x2 + _A11) * x2 + _A9) * x2 + _A7) * x2 + _A5) * x2 + _A3) * x2 + _A1) * x
    q = ((_B6 * x2 + _B4) * x2 + _B2) * x2 + _B0
    return p / q


def _sigmoid32(x):
    """sigmoid for float32: 1/(1+exp(-x)) = (1 + tanh(x/2)) / 2."""
    return _HALF32 + _HALF32 * tanh(_HALF32 * x)


def _tanh64(x):
    return math.tanh(x)


def _sigmoid64(x):
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)


def tanh(x):
    """tanh(x): rational approximation for float32, libm for float64."""
    return _tanh32(x) if isinstance(x, np.float32) else _tanh64(x)


def sigmoid(x):
    """sigmoid(x) = 1 / (1 + exp(-x)): approximation for float32, libm for float64."""
    return _sigmoid32(x) if isinstance(x, np.float32) else _sigmoid64(x)


def _is_float32(x):
    return isinstance(x, types.Float) and x.bitwidth == 32


_JIT = {"error_model": "numpy"}  # no zero-division check: it would block vectorisation


@overload(tanh, jit_options=_JIT)
def _tanh_overload(x):
    return _tanh32 if _is_float32(x) else _tanh64


@overload(sigmoid, jit_options=_JIT)
def _sigmoid_overload(x):
    return _sigmoid32 if _is_float32(x) else _sigmoid64
