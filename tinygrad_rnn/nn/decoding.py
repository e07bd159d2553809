"""Batched inference for any step-by-step decoder: greedy decoding and beam search.

A decoder is a function step(tokens, state) -> (log_probs, state): tokens (B,) int64, log_probs (B, V)
(a Tensor or an array) and state any nesting of tuples of Tensors/arrays with the batch on dim 0 (so
that search can copy and reorder hypotheses by indexing rows). Both return (tokens, lengths, scores):
tokens (B, L) int64 padded with end_token after each output, lengths (B,) the number of tokens before
the end token (L if it never came), scores (B,) the summed log-probability (beam search: divided by
the length penalty) of the chosen output, end token included.
"""
import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor


def select_rows(state, rows):
    """state with every Tensor/array indexed by rows on dim 0 (tuples and NamedTuples kept)."""
    if state is None:
        return None
    if isinstance(state, (Tensor, np.ndarray)):
        return state[rows]
    items = [select_rows(s, rows) for s in state]
    return type(state)(*items) if hasattr(state, "_fields") else type(state)(items)


def _int_arg(value, name, low):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _start(start_tokens, end_token, max_length, name):
    start = start_tokens.detach().numpy() if isinstance(start_tokens, Tensor) else np.asarray(start_tokens)
    if start.dtype.kind not in "iu" or start.ndim != 1:
        raise ValueError(f"{name}: start_tokens must be a 1-D integer array (one per sequence), "
                         f"got {start.dtype} of shape {start.shape}")
    _int_arg(end_token, f"{name}: end_token", 0)
    return start.astype(np.int64), _int_arg(max_length, f"{name}: max_length", 1)


def _log_probs(step, tokens, state, batch, end_token, name):
    log_probs, state = step(tokens, state)
    lp = log_probs.detach().numpy() if isinstance(log_probs, Tensor) else np.asarray(log_probs)
    if lp.ndim != 2 or lp.shape[0] != batch:
        raise ValueError(f"{name}: step must return log-probabilities of shape ({batch}, V), got {lp.shape}")
    if end_token >= lp.shape[1]:
        raise ValueError(f"{name}: end_token {end_token} is out of range for a vocabulary of {lp.shape[1]}")
    return lp.astype(np.float64), state


def _lengths(tokens, end_token):
    ended = tokens == end_token
    return np.where(ended.any(axis=-1), ended.argmax(axis=-1), tokens.shape[-1])


def greedy_decode(step, state, start_tokens, end_token, max_length):
    """The most probable next token at each step, until every sequence has emitted end_token."""
    tokens, max_length = _start(start_tokens, end_token, max_length, "greedy_decode")
    B = len(tokens)
    done, score, out = np.zeros(B, bool), np.zeros(B), []
    with no_grad():
        for _ in range(max_length):
            lp, state = _log_probs(step, tokens, state, B, end_token, "greedy_decode")
            tokens = np.where(done, end_token, lp.argmax(axis=1))
            score += np.where(done, 0.0, lp[np.arange(B), tokens])
            out.append(tokens)
            done |= tokens == end_token
            if done.all():
                break
    out = np.stack(out, axis=1)
    return out, _lengths(out, end_token), score


def length_penalty_factor(length, alpha):
    """GNMT's ((5 + length) / 6) ** alpha (Wu et al. 2016): alpha 0 ranks by log-probability alone."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(step, state, start_tokens, end_token, max_length, beam_width=4, length_penalty=0.0):
    """Keep the beam_width best prefixes of each sequence; rank the finished ones by score / penalty.

    A finished hypothesis stays in the beam, extended by end_token at no cost, until every beam of
    every sequence has finished or max_length tokens were emitted.
    """
    tokens, max_length = _start(start_tokens, end_token, max_length, "beam_search")
    K = _int_arg(beam_width, "beam_search: beam_width", 1)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float, np.floating)):
        raise ValueError(f"beam_search: length_penalty must be a number, got {length_penalty!r}")
    B = len(tokens)
    state = select_rows(state, np.repeat(np.arange(B), K))
    tokens = np.repeat(tokens, K)
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis per sequence at first; the copies join as it branches
    finished = np.zeros((B, K), bool)
    picked, parents = [], []
    with no_grad():
        for _ in range(max_length):
            lp, state = _log_probs(step, tokens, state, B * K, end_token, "beam_search")
            V = lp.shape[1]
            lp = lp.reshape(B, K, V)
            stay = np.full(V, -np.inf)
            stay[end_token] = 0.0
            lp = np.where(finished[:, :, None], stay, lp)
            flat = (scores[:, :, None] + lp).reshape(B, K * V)
            best = np.argsort(-flat, axis=1, kind="stable")[:, :K]
            scores = np.take_along_axis(flat, best, axis=1)
            parent, tokens = best // V, best % V
            finished = np.take_along_axis(finished, parent, axis=1) | (tokens == end_token)
            picked.append(tokens)
            parents.append(parent)
            state = select_rows(state, (np.arange(B)[:, None] * K + parent).reshape(-1))
            tokens = tokens.reshape(-1)
            if finished.all():
                break
    seqs = _backtrack(picked, parents)
    lengths = _lengths(seqs, end_token)
    emitted = np.minimum(lengths + 1, seqs.shape[2])  # the end token counts, as in the score
    ranked = scores / length_penalty_factor(emitted, float(length_penalty))
    choice = ranked.argmax(axis=1)
    rows = np.arange(B)
    return seqs[rows, choice], lengths[rows, choice], ranked[rows, choice]


def _backtrack(picked, parents):
    """(B, K, L) token histories from each step's tokens and parent beams."""
    B, K = picked[0].shape
    beam = np.tile(np.arange(K), (B, 1))
    out = []
    for tokens, parent in zip(reversed(picked), reversed(parents)):
        out.append(np.take_along_axis(tokens, beam, axis=1))
        beam = np.take_along_axis(parent, beam, axis=1)
    return np.stack(out[::-1], axis=2)
