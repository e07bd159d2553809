"""Row scatter-add: the backward of gathering rows (embedding, integer-array indexing).

One pass over the indices, adding whole rows; replaces the slow ``np.add.at``. Indices are assumed
valid (the caller checks them).
"""
import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def scatter_add_rows(index, src, n_rows):
    """out = zeros(n_rows, D); out[index[i]] += src[i] for every i (repeated indices accumulate)."""
    out = np.zeros((n_rows, src.shape[1]), src.dtype)
    for i in range(index.shape[0]):
        r = index[i]
        for j in range(src.shape[1]):
            out[r, j] += src[i, j]
    return out


@njit(cache=True, error_model="numpy")
def embedding_backward(index, grad, num_embeddings, padding_idx):
    """dW = zeros(num_embeddings, D); dW[index[i]] += grad[i] unless index[i] == padding_idx (-1: none)."""
    out = np.zeros((num_embeddings, grad.shape[1]), grad.dtype)
    for i in range(index.shape[0]):
        r = index[i]
        if r == padding_idx:
            continue
        for j in range(grad.shape[1]):
            out[r, j] += grad[i, j]
    return out
