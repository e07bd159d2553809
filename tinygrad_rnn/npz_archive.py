"""The .npz container of checkpoints: exact member names, bounded reads and atomic writes.

Members are read by their exact zip name (NumPy's NpzFile also answers "x.npy" for "x", which
lets one key read another's array) and parsed here, so every declared size is checked against a
byte budget before anything is allocated: a small file cannot make load allocate gigabytes.
Writes go to a temporary file beside the target, locked (flock) while it is written, then renamed
over the target; temporaries of the same target whose writer died (unlocked) are removed by the
next write, and the target's permission bits are kept.
"""
import glob
import os
import secrets
import stat
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

try:
    import fcntl
except ImportError:  # not POSIX: no lock, so no cleaning of other writers' temporaries either
    fcntl = None

ARRAY_KINDS = "biufc"
CORRUPT = (ValueError, OSError, EOFError, KeyError, NotImplementedError, zipfile.BadZipFile, zlib.error)


class Budget:
    """Bytes that loading may still allocate: check(n) refuses n beyond them with ValueError, take(n) also spends."""

    def __init__(self, max_bytes, path):
        self.left, self.max_bytes, self.path = max_bytes, max_bytes, path

    def check(self, n, what):
        if n > self.left:
            raise ValueError(f"load: {self.path}: {what} declares {n:,} bytes, beyond max_bytes={self.max_bytes:,} "
                             f"({self.max_bytes - self.left:,} already read); pass a larger max_bytes to "
                             "load a checkpoint this big")

    def take(self, n, what):
        self.check(n, what)
        self.left -= n


def members(archive):
    """{array name: ZipInfo} of the archive's .npy members, by exact name ("w.npy" -> "w")."""
    return {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}


def read_array(archive, info, name, budget):
    """The array in one member; ValueError for pickles, unsupported dtypes, corruption or sizes over budget."""
    path = budget.path
    budget.check(info.file_size, f"array {name!r}")  # the inflated size, before inflating anything
    try:
        with archive.open(info) as member:
            version = npy_format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            if dtype.hasobject:
                raise ValueError(f"load: {path} holds pickled object array {name!r}; refusing to unpickle it")
            if dtype.kind not in ARRAY_KINDS:
                raise ValueError(f"load: {path}: array {name!r} has unsupported dtype {dtype}")
            count = 1
            for n in shape:
                count *= n
            nbytes = count * dtype.itemsize
            budget.take(nbytes, f"array {name!r} of shape {shape} and dtype {dtype}")
            if member.tell() + nbytes != info.file_size:
                raise ValueError(f"its header declares {nbytes:,} bytes of data, the member holds "
                                 f"{info.file_size - member.tell():,}")
            buffer = bytearray(nbytes)
            if member.readinto(buffer) != nbytes or member.read(1):  # reading to the end checks the CRC
                raise ValueError("the data is shorter than declared")
    except ValueError as e:
        if str(e).startswith("load:"):
            raise
        raise ValueError(f"load: {path}: array {name!r} is corrupt ({e})") from None
    except CORRUPT as e:
        raise ValueError(f"load: {path}: array {name!r} is corrupt or truncated ({e})") from None
    arr = np.frombuffer(buffer, dtype=dtype)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


def write_npz(f, arrays):
    """What np.savez does, without its keyword arguments (a key "file" would clash) or pickling."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                npy_format.write_array(member, arr, allow_pickle=False)


def _temporaries(path):
    """(glob pattern of path's temporaries, a fresh temporary name for this process)."""
    folder, base = os.path.split(os.path.abspath(path))
    pattern = os.path.join(glob.escape(folder), f".{glob.escape(base)}.*.tmp")
    return pattern, os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temporaries(path):
    """Delete temporaries of path left by writers that died (a live writer holds its file's lock)."""
    if fcntl is None:
        return
    for stale in glob.glob(_temporaries(path)[0]):
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.remove(stale)
        except OSError:
            pass  # locked: its writer is alive; or already gone
        finally:
            os.close(fd)


def atomic_write(path, write):
    """write(f) into a locked temporary beside path, fsync, rename over path, keeping path's mode bits."""
    remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    tmp = _temporaries(path)[1]
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb", closefd=False) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    finally:
        os.close(fd)
    _fsync_folder(os.path.dirname(os.path.abspath(path)))


def _fsync_folder(folder):
    """Make the rename itself durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
