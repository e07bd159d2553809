"""Generated kernels on disk: one source file per distinct step graph, imported so numba can cache it.

numba's ``cache=True`` needs a function defined in a real file; the file is named by a hash of the
generated source (which renders the graph, its shape pattern and ranks), of the numba version and of
``kernels/fastmath.py`` (whose edits numba's cache would not notice), and it is never rewritten once
present, so a second process finds both the file and numba's compiled code and compiles nothing.
Directory: $TINYGRAD_RNN_CACHE_DIR, else $XDG_CACHE_HOME/tinygrad_rnn (~/.cache/tinygrad_rnn), else
a per-user folder in the temporary directory when those are not writable.
"""
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numba

from ..kernels import fastmath

_loaded = {}      # key -> module
_by_source = {}   # source -> module (skips hashing on every call)


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
    h.update(Path(fastmath.__file__).read_bytes())
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
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)  # atomic: a concurrent process sees the whole file or none
    name = f"tinygrad_rnn_cell_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cached code finds its module's globals by this name
    spec.loader.exec_module(module)
    _loaded[key] = _by_source[source] = module
    return module
