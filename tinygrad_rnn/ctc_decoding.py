"""Reading CTC outputs: greedy (best path) and prefix beam-search decoding (label error rate: metrics).

A labelling is what a path of frame labels becomes once repeats are collapsed and blanks dropped
(B(a a - a b -) = a a b). Greedy decoding takes the most probable label at each frame; that is the most
probable path, not the most probable labelling, whose probability is a sum over all of its paths.
Prefix beam search keeps the beam_width most probable prefixes, each with its probability split into
paths ending in a blank and paths ending in its last label, so that prefixes reached by different paths
are merged (Graves 2012, ch. 7; Hannun et al. 2014). With a beam as wide as the number of prefixes it is
exact. Inputs are log-probabilities (T, N, C) or (T, C), as for ctc_loss, as Tensors or arrays.
"""
import math

import numpy as np

from .tensor import Tensor


def _tables(log_probs, input_lengths, blank, name):
    """(list of (T_n, C) float64 tables, unbatched) after checking shapes, lengths and blank."""
    lp = log_probs.detach().numpy() if isinstance(log_probs, Tensor) else np.asarray(log_probs)
    if lp.dtype.kind != "f":
        raise TypeError(f"{name}: log_probs must be floating point, got dtype {lp.dtype}")
    if lp.ndim not in (2, 3):
        raise ValueError(f"{name}: log_probs must be (T, N, C) or (T, C), got shape {lp.shape}")
    unbatched = lp.ndim == 2
    lp = lp[:, None, :] if unbatched else lp
    T, N, C = lp.shape
    if isinstance(blank, bool) or not isinstance(blank, (int, np.integer)) or not 0 <= blank < C:
        raise ValueError(f"{name}: blank must be an int in [0, {C}), got {blank!r}")
    if input_lengths is None:
        lengths = np.full(N, T)
    else:
        lengths = input_lengths.detach().numpy() if isinstance(input_lengths, Tensor) else np.asarray(input_lengths)
        if lengths.dtype.kind not in "iu" or lengths.reshape(-1).shape != (N,):
            raise ValueError(f"{name}: input_lengths must be {N} integers, got {lengths.dtype} of shape "
                             f"{lengths.shape}")
        lengths = lengths.reshape(N)
        if lengths.size and (lengths.min() < 0 or lengths.max() > T):
            raise ValueError(f"{name}: input_lengths must lie in [0, {T}], got {lengths.min()}..{lengths.max()}")
    return [lp[:int(lengths[n]), n].astype(np.float64) for n in range(N)], unbatched


def ctc_greedy_decode(log_probs, input_lengths=None, blank=0):
    """Best-path labellings: argmax at each frame, repeats collapsed, blanks dropped.

    Returns a list of label lists, one per sequence (one list for unbatched (T, C) input).
    """
    tables, unbatched = _tables(log_probs, input_lengths, blank, "ctc_greedy_decode")
    out = []
    for table in tables:
        path = table.argmax(axis=1)
        keep = (path != blank) & np.concatenate([[True], path[1:] != path[:-1]])
        out.append([int(k) for k in path[keep]])
    return out[0] if unbatched else out


def _logaddexp(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def _prefix_search(table, beam_width, blank, length_normalization):
    def score(prefix, pb, pnb):
        total = _logaddexp(pb, pnb)
        return total / max(1, len(prefix)) if length_normalization else total

    beams = {(): (0.0, -math.inf)}  # prefix -> (log p ending in blank, log p ending in its last label)
    for y in table:
        nxt = {}

        def add(prefix, pb=-math.inf, pnb=-math.inf):
            ob, onb = nxt.get(prefix, (-math.inf, -math.inf))
            nxt[prefix] = (_logaddexp(ob, pb), _logaddexp(onb, pnb))

        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            add(prefix, pb=total + y[blank])
            if prefix:
                add(prefix, pnb=pnb + y[prefix[-1]])  # the last label repeated: the prefix stays
            for k in range(len(y)):
                if k == blank:
                    continue
                # a repeated label needs a blank in between to extend the prefix
                via = pb if prefix and k == prefix[-1] else total
                add(prefix + (k,), pnb=via + y[k])
        ranked = sorted(nxt.items(), key=lambda item: score(item[0], *item[1]), reverse=True)
        beams = dict(ranked[:beam_width])
    best = max(beams.items(), key=lambda item: score(item[0], *item[1]))
    return list(best[0])


def ctc_beam_search_decode(log_probs, beam_width=10, blank=0, input_lengths=None, length_normalization=False):
    """Most probable labellings by prefix beam search (see the module docstring).

    beam_width: prefixes kept after each frame. length_normalization: rank prefixes by log p / length
    instead of log p, which stops the search from favouring short labellings. Returns a list of label
    lists, one per sequence (one list for unbatched (T, C) input).
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"ctc_beam_search_decode: beam_width must be an int >= 1, got {beam_width!r}")
    tables, unbatched = _tables(log_probs, input_lengths, blank, "ctc_beam_search_decode")
    out = [_prefix_search(t, int(beam_width), blank, bool(length_normalization)) for t in tables]
    return out[0] if unbatched else out
