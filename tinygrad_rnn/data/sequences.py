"""Token vocabularies and padded batches for sequence-to-sequence models.

A Vocab numbers its tokens after three specials: <pad> 0, <s> 1 (start of the decoder's input) and
</s> 2 (end of output). Teacher forcing feeds the decoder [<s>, y_1, ..., y_n] and trains it to emit
[y_1, ..., y_n, </s>]: the target shifted one step left.
"""
import numpy as np

PAD, START, END = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")


class Vocab:
    """Tokens (any hashables, e.g. letters or phoneme names) <-> ids, after the three specials."""

    def __init__(self, tokens):
        self.itos = list(SPECIALS) + sorted(set(tokens) - set(SPECIALS))
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, seq):
        try:
            return [self.stoi[t] for t in seq]
        except KeyError as e:
            raise ValueError(f"Vocab.encode: token {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids):
        """Tokens up to the first </s>, specials dropped."""
        out = []
        for i in ids:
            if i == END:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return out


def pad_batch(seqs, pad=PAD):
    """A list of id lists -> (B, T_max) int64 array padded with pad, and the lengths (B,)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), max(lengths.max(initial=0), 1)), pad, dtype=np.int64)
    for b, s in enumerate(seqs):
        out[b, :len(s)] = s
    return out, lengths


def teacher_forcing_batch(targets):
    """Decoder inputs [<s>, y...] and outputs [y..., </s>] (pad elsewhere), both (B, T_max + 1)."""
    inputs, _ = pad_batch([[START] + list(t) for t in targets])
    outputs, _ = pad_batch([list(t) + [END] for t in targets])
    return inputs, outputs
