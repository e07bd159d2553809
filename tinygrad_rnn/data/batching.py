"""Batches for truncated back-propagation through time (TBPTT).

The token ids are cut into `batch_size` contiguous strips of equal length, one per stream, and
the strips are read side by side in chunks of `seq_len` steps. Chunk k+1 of stream b starts
exactly where chunk k ended, so the hidden state left by one chunk is the right initial state
for the next: carry it over with `h.detach()`, which is what truncates the gradient.
"""
import itertools

import numpy as np


def check_int(func, name, value, minimum):
    """Raise unless `value` is an integer >= minimum; the message names func, name and value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{func} expected {name} to be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{func} expected {name} >= {minimum}, got {value}")
    return int(value)


class TBPTTBatcher:
    """Time-major `(inputs, targets)` chunks, both `(seq_len, batch_size)` int64.

    With L = (len(ids) - 1) // batch_size, stream b reads inputs ids[b*L : (b+1)*L] and targets
    one token later, ids[b*L + 1 : (b+1)*L + 1]. The last `L % seq_len` steps of each stream
    are dropped so that every chunk has the same shape (as is the tail of ids that does not
    fill a stream). Iterating gives one pass (an epoch) of `len(self)` chunks.
    """

    def __init__(self, ids, batch_size, seq_len):
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"TBPTTBatcher expected 1-D ids, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"TBPTTBatcher expected integer ids, got dtype {ids.dtype}")
        self.batch_size = check_int("TBPTTBatcher", "batch_size", batch_size, 1)
        self.seq_len = check_int("TBPTTBatcher", "seq_len", seq_len, 1)
        self.stream_len = max(len(ids) - 1, 0) // self.batch_size
        if self.seq_len > self.stream_len:
            raise ValueError(
                f"TBPTTBatcher expected seq_len <= stream length {self.stream_len} "
                f"((len(ids) - 1) // batch_size = ({len(ids)} - 1) // {self.batch_size}), got seq_len={self.seq_len}")
        n = self.stream_len * self.batch_size
        ids = ids.astype(np.int64, copy=False)
        self._inputs = np.ascontiguousarray(ids[:n].reshape(self.batch_size, -1).T)
        self._targets = np.ascontiguousarray(ids[1:n + 1].reshape(self.batch_size, -1).T)

    def __len__(self):
        return self.stream_len // self.seq_len

    def __getitem__(self, k):
        """Chunk k (0 <= k < len(self)), as fresh arrays."""
        if not 0 <= k < len(self):
            raise IndexError(f"TBPTTBatcher chunk index expected in [0, {len(self)}), got {k}")
        rows = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self._inputs[rows].copy(), self._targets[rows].copy()

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]

    def batches(self, steps=None):
        """An iterator over `steps` chunks (endless if None), starting a new pass after each epoch.

        A pass restarts every stream at its beginning, so the caller should reset the hidden
        state on every step i with `i % len(self) == 0`.
        """
        steps = itertools.count() if steps is None else range(check_int("batches", "steps", steps, 0))
        return (self[i % len(self)] for i in steps)
