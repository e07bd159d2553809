"""Generated kernels on disk: one source file per distinct step graph, imported so numba can cache it;
a new file's two kernels compile side by side, one of them in a helper process (compile_fresh).

numba's ``cache=True`` needs a function defined in a real file; the file is named by a hash of the
generated source (which renders the graph, its shape pattern and ranks), of the numba version and of
``kernels/fastmath.py`` and ``kernels/matrices.py`` (the helpers the kernels call, whose edits numba's
cache would not notice), and it is never rewritten once
present, so a second process finds both the file and numba's compiled code and compiles nothing.
Directory: $TINYGRAD_RNN_CACHE_DIR, else $XDG_CACHE_HOME/tinygrad_rnn (~/.cache/tinygrad_rnn), else
a per-user folder in the temporary directory when those are not writable.
"""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np

from ..kernels import fastmath, matrices

_loaded = {}      # key -> module
_by_source = {}   # source -> module (skips hashing on every call)
_aside = {}       # module name -> the helper process compiling one of its kernels
_fresh = set()    # kernel files this process wrote: nothing is compiled for them yet


def _writable(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def cache_dir():
    """The directory holding generated kernels (created when missing)."""
    env = os.environ.get("TINYGRAD_RNN_CACHE_DIR")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for candidate in ([Path(env)] if env else []) + [Path(base) / "tinygrad_rnn" / "cells"]:
        if _writable(candidate):
            return candidate
    fallback = Path(tempfile.gettempdir()) / f"tinygrad_rnn_cells_{os.getuid() if hasattr(os, 'getuid') else 0}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _key(source):
    h = hashlib.sha256(source.encode())
    h.update(numba.__version__.encode())
    for helpers in (fastmath, matrices):  # the kernels call into these; numba's cache would not see their edits
        h.update(Path(helpers.__file__).read_bytes())
    return h.hexdigest()[:24]


def load(source):
    """The module for this generated source: from memory, from the disk cache, or written now."""
    module = _by_source.get(source)
    if module is not None:
        return module
    key = _key(source)
    module = _loaded.get(key)
    if module is not None:
        return module
    path = cache_dir() / f"cell_{key}.py"
    module = _loaded[key] = _by_source[source] = _import(path, source)
    return module


def _import(path, source=None):
    """The module in path (written first, from source, when missing), named by its file."""
    if source is not None and not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: a concurrent process sees the whole file or none
        _fresh.add(str(path))
    name = f"tinygrad_rnn_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cached code finds its module's globals by this name
    spec.loader.exec_module(module)
    return module


def compile_fresh(module, arguments, backward_runs):
    """For a kernel file this process just wrote, compile its two kernels side by side (numba
    compiles one function at a time per process; on two cores two processes compile at once), one
    here and one in a helper process that leaves its machine code in numba's disk cache, where the
    kernel's first call here finds it. ``arguments``: kernel name -> (dtype, ndim) of each C-ordered
    array (codegen.kernel_arguments).

    When the backward will run (a training step), the helper compiles the forward while this process
    compiles the backward, the longer of the two, which then does not also wait for a process to
    start; it then waits for the helper. Otherwise the forward compiles here on its first call and
    the helper compiles the backward for later (wait_aside). Without a helper, or past HELPER_TIMEOUT, numba compiles here on the first call."""
    path = module.__file__
    if path not in _fresh or numba.config.DISABLE_JIT:
        return
    _fresh.discard(path)
    aside = "forward" if backward_runs else "backward"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    try:
        _aside[module.__name__] = subprocess.Popen(
            [sys.executable, "-m", "tinygrad_rnn.compiler.cache", path, aside, json.dumps(arguments[aside])],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        pass  # no helper: that kernel compiles here on its first call
    if backward_runs:
        try:
            _compile(module, "backward", arguments["backward"])
        finally:  # should that compile fail (or be interrupted), no helper outlives it
            wait_aside(module)


HELPER_TIMEOUT = 120  # seconds a helper may take (a cold compile takes under 10 here)


def wait_aside(module):
    """Wait for the helper compiling one of module's kernels, if one runs, HELPER_TIMEOUT at most (its
    result or not, the call that follows is right: numba loads the cached code, or compiles it here)."""
    helper = _aside.pop(module.__name__, None)
    if helper is not None:
        try:
            helper.wait(HELPER_TIMEOUT)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()


def _compile(module, kernel, arguments):
    from numba import types
    getattr(module, kernel).compile(tuple(types.Array(numba.from_dtype(np.dtype(d)), n, "C") for d, n in arguments))


if __name__ == "__main__":
    _compile(_import(Path(sys.argv[1])), sys.argv[2], json.loads(sys.argv[3]))
