"""Importing the package loads no optional library (PyTorch, JAX, matplotlib, onnx, graphviz) and
not scipy.special either, which erf imports on first use: it would add about a fifth to the
package's import, paid by every script and by each helper process that compiles a kernel."""
import subprocess
import sys

DEFERRED = ("torch", "jax", "matplotlib", "onnx", "onnxruntime", "graphviz", "sklearn", "scipy.special")


def test_importing_the_package_loads_no_optional_or_deferred_library():
    code = ("import sys, tinygrad_rnn, tinygrad_rnn.nn, tinygrad_rnn.compiler\n"
            f"print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert loaded.split() == []


def test_erf_imports_scipy_special_when_first_called():
    code = ("import sys, numpy as np, tinygrad_rnn as tg\n"
            "from tinygrad_rnn.ops.special import erf\n"
            "print(float(erf(tg.Tensor(np.array([0.5]))).data[0]), 'scipy.special' in sys.modules)")
    value, loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                   text=True).stdout.split()
    assert abs(float(value) - 0.5204998778130465) < 1e-12 and loaded == "True"
