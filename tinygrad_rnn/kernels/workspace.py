"""A small pool of NumPy buffers, so that repeated kernel calls reuse memory instead of page-faulting it.

Fresh multi-megabyte arrays are mapped lazily by the OS: the first write to every page faults, which
costs more than the arithmetic of a recurrent step at typical sizes (and whether a freed buffer goes
back to the OS depends on the allocator's mmap threshold). ``take`` hands out a buffer of the asked
shape and dtype, reusing one given back earlier; ``give`` returns it. Contents are uninitialised.
A buffer must be given back at most once and not used after that.

Invariants (kept under one lock, so threads may take and give concurrently; a buffer is handed to
one caller at a time): every pooled list is non-empty, ``_held`` is the total size of the pooled
buffers, and ``_held <= MAX_BYTES`` after every call, dropping the least recently given buffers
first. Buffers in use are the caller's and not counted; a buffer larger than MAX_BYTES, or an array
that does not own its memory (a view), is not pooled.
"""
import threading
from collections import OrderedDict

import numpy as np

MAX_BYTES = 512 * 2**20
_pool = OrderedDict()  # (shape, dtype) -> non-empty list of free arrays; least recently given key first
_held = 0
_lock = threading.Lock()


def take(shape, dtype):
    """An uninitialised C-contiguous array of this shape and dtype, from the pool when one is free."""
    global _held
    key = (tuple(int(n) for n in shape), np.dtype(dtype))
    with _lock:
        free = _pool.get(key)
        if free:
            a = free.pop()
            if not free:
                del _pool[key]
            _held -= a.nbytes
            return a
    return np.empty(key[0], key[1])


def give(a):
    """Return an array obtained from ``take``; it may be handed out again by the next ``take``."""
    global _held
    if a.nbytes > MAX_BYTES or a.base is not None or not a.flags.c_contiguous:
        return
    key = (a.shape, a.dtype)
    with _lock:
        free = _pool.get(key, [])
        if any(b is a for b in free):
            raise RuntimeError("workspace.give: this buffer was already given back")
        free.append(a)
        _pool[key] = free
        _pool.move_to_end(key)
        _held += a.nbytes
        while _held > MAX_BYTES:
            old_key, old = next(iter(_pool.items()))
            _held -= old.pop(0).nbytes
            if not old:
                del _pool[old_key]


def held_bytes():
    """The bytes the pool holds now (free buffers only)."""
    with _lock:
        return _held


def clear():
    """Drop every pooled buffer (to hand the memory back, or in tests)."""
    global _held
    with _lock:
        _pool.clear()
        _held = 0
