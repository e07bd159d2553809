"""Checkpoints without pickle: save/load nested dicts of tensors, arrays, numbers and strings.

Supported: dicts (str or int keys, order kept), lists, tuples, Tensors and numeric arrays (back as
Tensors, dtype kept), int, float (incl. nan/inf), bool, str and None; NumPy scalars come back as
Python numbers; nesting up to MAX_DEPTH levels. A checkpoint is one NumPy .npz archive: each array
under a name derived from its place in the structure ("model/0.weight", made safe for zip and unique),
plus "__manifest__", a JSON document (stored as a uint8 array) that describes the structure, holds
the scalars and the keys exactly, and names each array's member. Loading reads members by exact
name, refuses object dtypes from their header (nothing is ever unpickled), checks every declared
size against max_bytes before allocating, and validates the manifest entry by entry, so a foreign,
corrupt or hostile file raises ValueError. Saving is atomic (see npz_archive).
"""
import json
import os
import re
import zipfile

import numpy as np

from .npz_archive import ARRAY_KINDS as _ARRAY_KINDS, CORRUPT as _CORRUPT, Budget, atomic_write, members, read_array
from .npz_archive import write_npz as _write_npz
from .tensor import Tensor

FORMAT, VERSION = "tinygrad_rnn.checkpoint", 1
_MANIFEST = "__manifest__"
MAX_DEPTH = 200
MAX_BYTES = 2**30
_UNSAFE = re.compile(r"[^A-Za-z0-9_.#/-]")


def _flatten(obj, where, arrays, open_containers=()):
    """The manifest node for obj, adding its arrays to arrays (name -> ndarray); TypeError if unsupported."""
    if len(open_containers) > MAX_DEPTH:
        raise ValueError(f"save: the structure is nested deeper than {MAX_DEPTH} levels (at {where[:80]!r}...)")
    if isinstance(obj, (Tensor, np.ndarray)):
        arr = obj._data if isinstance(obj, Tensor) else obj
        if arr.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"save: cannot store an array of dtype {arr.dtype} at {where or 'the top level'} "
                            "(only bool, integer, float and complex arrays)")
        name = _unique_name(where or "array", arrays)
        arrays[name] = arr
        return {"t": "array", "key": name}
    if obj is None or isinstance(obj, (bool, str)):
        return {"t": "value", "v": obj}
    if isinstance(obj, (int, np.integer)):
        return {"t": "int", "v": int(obj)}
    if isinstance(obj, (float, np.floating)):
        return {"t": "float", "v": repr(float(obj))}
    if isinstance(obj, np.bool_):
        return {"t": "value", "v": bool(obj)}
    if isinstance(obj, (dict, list, tuple)) and id(obj) in open_containers:
        raise ValueError(f"save: the object contains itself at {where}; cannot store a reference cycle")
    open_containers = open_containers + (id(obj),)
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(key).__name__} {key!r} "
                                f"at {where or 'the top level'}")
            items.append([key, _flatten(value, f"{where}/{key}" if where else str(key), arrays, open_containers)])
        return {"t": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{where}/{k}" if where else str(k), arrays, open_containers)
                 for k, v in enumerate(obj)]
        return {"t": type(obj).__name__, "items": items}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where or 'the top level'}; "
                    "expected Tensors, arrays, numbers, strings, None, and dicts/lists/tuples of them")


def _unique_name(where, taken):
    """A zip member name for the array at where: readable, of safe characters only, unique."""
    name = _UNSAFE.sub("_", where)[:120]
    candidate, n = name, 1
    while candidate in taken or candidate == _MANIFEST:
        candidate, n = f"{name}#{n}", n + 1
    return candidate


def save(obj, f):
    """Write obj (a nested dict/list of Tensors, arrays, numbers, strings and None) as .npz to f: a
    path or a binary file object.

    A path is written exactly there (no ".npz" is appended), atomically: a crash or a kill leaves the
    old file or the new one, never a mix, and the next save removes the dead one's temporary. An
    existing file keeps its permission bits.
    """
    if hasattr(obj, "state_dict") and hasattr(obj, "parameters"):
        raise TypeError(f"save: cannot save a whole {type(obj).__name__} (that would need pickle); "
                        "save its state_dict() and load it back with load_state_dict()")
    arrays = {}
    root = _flatten(obj, "", arrays)
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}).encode("utf-8")
    arrays[_MANIFEST] = np.frombuffer(manifest, dtype=np.uint8)
    if hasattr(f, "write"):
        _write_npz(f, arrays)
        return
    atomic_write(os.fspath(f), lambda out: _write_npz(out, arrays))


class _Reader:
    """Rebuilds the saved structure from a manifest node by node, refusing anything malformed."""

    def __init__(self, archive, files, budget):
        self.archive, self.files, self.budget, self.path = archive, files, budget, budget.path

    def fail(self, why):
        return ValueError(f"load: {self.path} is not a valid tinygrad_rnn checkpoint: {why}")

    def build(self, node, depth=0):
        if depth > MAX_DEPTH + 1:
            raise self.fail(f"the manifest is nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict) or "t" not in node:
            raise self.fail(f"malformed manifest entry {node!r:.80}")
        kind = node["t"]
        if kind == "array":
            return self.array(node.get("key"))
        if kind == "value" and (node.get("v") is None or isinstance(node.get("v"), (bool, str))):
            return node["v"]
        if kind == "int" and isinstance(node.get("v"), int) and not isinstance(node["v"], bool):
            return node["v"]
        if kind == "float" and isinstance(node.get("v"), str):
            try:
                return float(node["v"])
            except ValueError:
                raise self.fail(f"bad float {node['v']!r:.40}") from None
        if kind in ("list", "tuple") and isinstance(node.get("items"), list):
            items = [self.build(v, depth + 1) for v in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(node.get("items"), list):
            out = {}
            for item in node["items"]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                    raise self.fail(f"malformed dict item {item!r:.80}")
                out[item[0]] = self.build(item[1], depth + 1)
            return out
        raise self.fail(f"malformed manifest entry {node!r:.80}")

    def array(self, key):
        if not isinstance(key, str) or key == _MANIFEST or key not in self.files:
            raise self.fail(f"the manifest names an array {key!r} that the archive does not hold")
        return Tensor._make(read_array(self.archive, self.files[key], key, self.budget))


def load(f, map_location=None, weights_only=True, max_bytes=MAX_BYTES):
    """Read a checkpoint written by save (from a path or a binary file object): the same structure,
    with Tensors in place of arrays. map_location and weights_only are accepted for PyTorch's
    sake: everything is on the CPU, and nothing but data is ever read.

    max_bytes bounds what loading may allocate (the arrays' declared sizes, summed, and the
    manifest): a file declaring more raises ValueError before the memory is taken (default 1 GiB).
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise ValueError(f"load: max_bytes must be a non-negative int, got {max_bytes!r}")
    if hasattr(f, "read"):
        return _load_from(f, getattr(f, "name", "the file object"), int(max_bytes))
    path = os.fspath(f)
    with open(path, "rb") as stream:
        return _load_from(stream, path, int(max_bytes))


def _load_from(f, path, max_bytes):
    if f.read(4) != b"PK\x03\x04":
        raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint (not an .npz archive)")
    f.seek(0)
    try:
        archive = zipfile.ZipFile(f)
    except _CORRUPT as e:
        raise ValueError(f"load: {path} is a corrupt or truncated .npz archive ({e})") from None
    with archive:
        files, budget = members(archive), Budget(max_bytes, path)
        if _MANIFEST not in files:
            raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint (it has no {_MANIFEST})")
        raw = read_array(archive, files[_MANIFEST], _MANIFEST, budget)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"load: {path} has a malformed {_MANIFEST} ({raw.dtype} array of shape {raw.shape})")
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (ValueError, RecursionError) as e:
            raise ValueError(f"load: {path} has an unreadable manifest ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint (manifest format is not {FORMAT!r})")
        if manifest.get("version") != VERSION:
            raise ValueError(f"load: {path} has checkpoint version {manifest.get('version')!r}; "
                             f"this tinygrad_rnn reads version {VERSION}")
        return _Reader(archive, files, budget).build(manifest.get("root"))
