"""Checkpoints without pickle: save/load nested dicts of tensors, arrays, numbers and strings.

Supported: dicts (str or int keys, order kept), lists, tuples, Tensors and numeric arrays (back as
Tensors, dtype kept), int, float (incl. nan/inf), bool, str and None; NumPy scalars come back as
Python numbers. A checkpoint is one NumPy .npz archive: each array under a key derived from its place in the
structure ("model/0.weight"), plus "__manifest__", a JSON document (stored as a uint8 array) that
describes the structure and holds the scalars. Loading uses allow_pickle=False and validates the
manifest entry by entry, so a foreign or corrupt file raises ValueError and nothing is unpickled.
Saving writes a temporary file beside the target and renames it over the target, so a crash never
leaves a half-written checkpoint.
"""
import json
import os
import secrets
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from .tensor import Tensor

FORMAT, VERSION = "tinygrad_rnn.checkpoint", 1
_MANIFEST = "__manifest__"
_ARRAY_KINDS = "biufc"
_CORRUPT = (ValueError, OSError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def _flatten(obj, where, arrays, open_containers=()):
    """The manifest node for obj, adding its arrays to arrays (name -> ndarray); TypeError if unsupported."""
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


def _unique_name(name, taken):
    candidate, n = name, 1
    while candidate in taken or candidate == _MANIFEST:
        candidate, n = f"{name}#{n}", n + 1
    return candidate


def save(obj, f):
    """Write obj (a nested dict/list of Tensors, arrays, numbers, strings and None) as .npz to f: a
    path (written exactly there, no ".npz" appended, atomically) or a binary file object.
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
    path = os.fspath(f)
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_npz(f, arrays):
    """What np.savez does, without its keyword arguments (a key "file" would clash) or pickling."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, arr, allow_pickle=False)


class _Reader:
    """Rebuilds the saved structure from a manifest node by node, refusing anything malformed."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path

    def fail(self, why):
        return ValueError(f"load: {self.path} is not a valid tinygrad_rnn checkpoint: {why}")

    def build(self, node):
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
            items = [self.build(v) for v in node["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(node.get("items"), list):
            out = {}
            for item in node["items"]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                    raise self.fail(f"malformed dict item {item!r:.80}")
                out[item[0]] = self.build(item[1])
            return out
        raise self.fail(f"malformed manifest entry {node!r:.80}")

    def array(self, key):
        if not isinstance(key, str) or key == _MANIFEST or key not in self.archive.files:
            raise self.fail(f"the manifest names an array {key!r} that the archive does not hold")
        arr = _read(self.archive, key, self.path)
        if arr.dtype.kind not in _ARRAY_KINDS:
            raise self.fail(f"array {key!r} has unsupported dtype {arr.dtype}")
        return Tensor._make(arr)


def _read(archive, key, path):
    try:
        return archive[key]
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise ValueError(f"load: {path} holds pickled object array {key!r}; refusing to unpickle it") from None
        raise ValueError(f"load: {path}: array {key!r} is corrupt ({e})") from None
    except _CORRUPT as e:
        raise ValueError(f"load: {path}: array {key!r} is corrupt or truncated ({e})") from None


def load(f, map_location=None, weights_only=True):
    """Read a checkpoint written by save (from a path or a binary file object): the same structure,
    with Tensors in place of arrays. map_location and weights_only are accepted for PyTorch's
    sake: everything is on the CPU, and nothing but data is ever read."""
    if hasattr(f, "read"):
        return _load_from(f, getattr(f, "name", "the file object"))
    path = os.fspath(f)
    with open(path, "rb") as stream:
        return _load_from(stream, path)


def _load_from(f, path):
    if f.read(4) != b"PK\x03\x04":
        raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint (not an .npz archive)")
    f.seek(0)
    try:
        archive = np.load(f, allow_pickle=False)
    except _CORRUPT as e:
        raise ValueError(f"load: {path} is a corrupt or truncated .npz archive ({e})") from None
    with archive:
        if _MANIFEST not in archive.files:
            raise ValueError(f"load: {path} is not a tinygrad_rnn checkpoint (it has no {_MANIFEST})")
        raw = _read(archive, _MANIFEST, path)
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
        try:
            return _Reader(archive, path).build(manifest.get("root"))
        except RecursionError:
            raise ValueError(f"load: {path} has a manifest nested too deeply to read") from None
