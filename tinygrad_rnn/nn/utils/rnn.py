"""Padded and packed variable-length batches, as torch.nn.utils.rnn.

A PackedSequence holds the valid steps of a batch without padding: time-major, and within each step
the sequences still running, longest first. `batch_sizes[t]` is how many sequences have a step t.
Packing and unpacking are single gathers (differentiable, their gradient a scatter-add); padding
positions read one extra row holding the padding value, so they get no gradient.
"""
from collections import namedtuple

import numpy as np

from ...ops import cat, getitem
from ...tensor import ShapeError, Tensor


def _ints(values, arg, name):
    """A 1-D int64 array from a list, array or Tensor of integers (TypeError/ValueError otherwise)."""
    arr = values.detach().numpy() if isinstance(values, Tensor) else np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: {arg} must be integers, got {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: {arg} must be 1-D, got shape {arr.shape}")
    return arr.astype(np.int64)


def _index_tensor(arr):
    return None if arr is None else Tensor(np.asarray(arr, dtype=np.int64))


def invert_permutation(perm):
    """The permutation q with q[perm[k]] = k (unsorted_indices from sorted_indices)."""
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    return inverse


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data (N, *), batch_sizes (T,), sorted_indices, unsorted_indices), as torch's.

    sorted_indices[k] is the batch position of the k-th longest sequence (None when the batch was
    already sorted); unsorted_indices is its inverse, computed when not given.
    """

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if not isinstance(data, Tensor):
            raise TypeError(f"PackedSequence: data must be a Tensor, got {type(data).__name__}")
        batch_sizes = _ints(batch_sizes, "batch_sizes", "PackedSequence")
        if batch_sizes.size and (np.any(np.diff(batch_sizes) > 0) or batch_sizes[-1] < 1):
            raise ValueError(f"PackedSequence: batch_sizes must be positive and non-increasing, "
                             f"got {batch_sizes.tolist()}")
        if data.ndim == 0 or data.shape[0] != batch_sizes.sum():
            raise ValueError(f"PackedSequence: data must have sum(batch_sizes) = {batch_sizes.sum()} rows, "
                             f"got shape {data.shape}")
        if sorted_indices is not None:
            sorted_indices = _ints(sorted_indices, "sorted_indices", "PackedSequence")
            if unsorted_indices is None:
                unsorted_indices = invert_permutation(sorted_indices)
        if unsorted_indices is not None:
            unsorted_indices = _ints(unsorted_indices, "unsorted_indices", "PackedSequence")
        return super().__new__(cls, data, Tensor(batch_sizes), _index_tensor(sorted_indices),
                               _index_tensor(unsorted_indices))

    def to(self, *args, **kwargs):
        """The same sequence with data.to(*args, **kwargs) (batch_sizes and the orders unchanged)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def cpu(self):
        return self

    is_cuda = False

    def is_pinned(self):
        return False

    def _arrays(self):
        """(batch_sizes, sorted order, unsorted order) as int64 arrays (identity orders when None)."""
        sizes = self.batch_sizes.detach().numpy()
        batch = int(sizes[0]) if sizes.size else 0
        order = [np.arange(batch) if p is None else p.detach().numpy() for p in (self.sorted_indices,
                                                                               self.unsorted_indices)]
        return sizes, order[0], order[1]


def _sorted_lengths(batch_sizes):
    """Length of each sequence in sorted order: how many steps have it in their batch."""
    batch = int(batch_sizes[0]) if batch_sizes.size else 0
    return (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)


def _packed_positions(batch_sizes):
    """(t, b) of each packed row, b in sorted order: step by step, the running sequences."""
    t = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    b = np.concatenate([np.arange(n) for n in batch_sizes]) if batch_sizes.size else np.zeros(0, np.int64)
    return t, b


def _gather_padded(rows, index, padding_value):
    """rows (N, *) gathered by index (any shape, values in [0, N]; N means padding): differentiable."""
    pad = np.full((1,) + rows.shape[1:], padding_value, dtype=rows.dtype)
    return getitem(cat([rows, Tensor(pad)], dim=0), index)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_k, *) into (T, B, *) (or (B, T, *)), T the longest L_k, padded."""
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: expected a non-empty list of tensors, got none")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got {padding_side!r}")
    first = sequences[0]
    for k, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequences[{k}] must be a Tensor, got {type(s).__name__}")
        if s.ndim == 0 or s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise ValueError(f"pad_sequence: sequences[{k}] has shape {s.shape} and dtype {s.dtype}; expected "
                             f"(L, {', '.join(map(str, first.shape[1:]))}) and {first.dtype} like sequences[0]")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    T, starts = int(lengths.max()), np.concatenate([[0], np.cumsum(lengths)[:-1]])
    t = np.arange(T)[:, None]
    offset = t if padding_side == "right" else t - (T - lengths[None, :])
    valid = (offset >= 0) & (offset < lengths[None, :])
    index = np.where(valid, starts[None, :] + offset, lengths.sum())
    out = _gather_padded(cat(sequences, dim=0), index, padding_value)
    return out.transpose(0, 1) if batch_first else out


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_k, *) that pad_sequence (right-padded) would have stacked."""
    x = padded_sequences.transpose(0, 1) if batch_first else padded_sequences
    return [x[:n, k] for k, n in enumerate(_ints(lengths, "lengths", "unpad_sequence"))]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """A PackedSequence of a padded (T, B, *) (or (B, T, *)) batch whose sequences have `lengths`.

    enforce_sorted=True requires lengths in decreasing order (sorted_indices is then None);
    otherwise the batch is sorted here and the order kept in sorted_indices/unsorted_indices.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must have at least 2 dims (T, B, *), got shape {input.shape}")
    x = input.transpose(0, 1) if batch_first else input
    T, B = x.shape[0], x.shape[1]
    if B == 0 or T == 0:  # as PyTorch, which cannot pack empty tensors either
        raise ShapeError(f"pack_padded_sequence: cannot pack an empty batch, got input of shape {input.shape}")
    lengths = _ints(lengths, "lengths", "pack_padded_sequence")
    if lengths.shape != (B,):
        raise ValueError(f"pack_padded_sequence: expected lengths of shape ({B},), one per sequence, "
                         f"got {lengths.shape}")
    if B and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"pack_padded_sequence: lengths must be in [1, {T}] (the padded length), "
                         f"got {lengths.tolist()}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"pack_padded_sequence: lengths must be sorted in decreasing order when "
                             f"enforce_sorted=True, got {lengths.tolist()}; pass enforce_sorted=False")
        order = None
    else:
        order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths if order is None else lengths[order]
    batch_sizes = (sorted_lengths[None, :] > np.arange(int(sorted_lengths.max(initial=0)))[:, None]).sum(axis=1)
    t, b = _packed_positions(batch_sizes)
    data = getitem(x, (t, b if order is None else order[b]))
    return PackedSequence(data, batch_sizes, order)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """(padded (T, B, *) or (B, T, *), lengths) from a PackedSequence, in the batch's original order."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: sequence must be a PackedSequence, got {type(sequence).__name__}")
    sizes, _, unsorted = sequence._arrays()
    T = len(sizes)
    if total_length is not None:
        if not isinstance(total_length, (int, np.integer)) or total_length < T:
            raise ValueError(f"pad_packed_sequence: total_length must be an int >= {T} (the longest sequence), "
                             f"got {total_length!r}")
        T = int(total_length)
    lengths = _sorted_lengths(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    t, b = np.arange(T)[:, None], np.arange(len(lengths))[None, :]
    index = np.where(t < lengths[None, :], starts[np.minimum(t, len(sizes) - 1)] + b, sizes.sum())
    out = _gather_padded(sequence.data, index[:, unsorted], padding_value)
    return (out.transpose(0, 1) if batch_first else out), Tensor(lengths[unsorted])


def pack_sequence(sequences, enforce_sorted=True):
    """pack_padded_sequence(pad_sequence(sequences), their lengths, enforce_sorted=enforce_sorted)."""
    sequences = list(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences (L_k, *) in the batch's original order."""
    padded, lengths = pad_packed_sequence(packed_sequences)
    return unpad_sequence(padded, lengths)


def forward_packed(module, packed, hx):
    """A recurrent layer run on a PackedSequence, as PyTorch's: the packed output (same batch_sizes
    and order) and the final state in the batch's original order. The initial state hx is in the
    original order too; the layer runs the padded batch with `lengths`."""
    sizes, order, unsorted = packed._arrays()
    lengths = _sorted_lengths(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    t, b = np.arange(len(sizes))[:, None], np.arange(len(lengths))[None, :]
    x = _gather_padded(packed.data, np.where(t < lengths[None, :], starts[t] + b, sizes.sum()), 0.0)
    if hx is not None:
        hx = tuple(h[:, order] for h in hx) if isinstance(hx, (tuple, list)) else hx[:, order]
    out, state = module(x.transpose(0, 1) if module.batch_first else x, hx, lengths=lengths)
    out = out.transpose(0, 1) if module.batch_first else out
    data = getitem(out, _packed_positions(sizes))
    state = tuple(s[:, unsorted] for s in state) if isinstance(state, tuple) else state[:, unsorted]
    return PackedSequence(data, sizes, packed.sorted_indices, packed.unsorted_indices), state
