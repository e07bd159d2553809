"""Text for character language models: the built-in corpus, a character vocabulary, a split.

The built-in corpus is the Python reference documentation that ships inside every CPython
(`pydoc_data.topics`), so a real English text is available without any download. Its exact
content depends on the Python version, so a trained model must keep its vocabulary
(`CharVocab.to_dict()`) rather than rebuild it from the corpus.
"""
import collections
import functools
import os
import types

import numpy as np

BUILTIN_CORPUS = "pydoc_data.topics"


@functools.lru_cache(maxsize=1)
def _builtin_text():
    try:
        from pydoc_data.topics import topics
    except ImportError as e:
        raise OSError(f"the built-in corpus needs the standard module {BUILTIN_CORPUS}, "
                      f"which this Python does not have ({e})") from e
    return "\n".join(topics[key] for key in sorted(topics))


def load_text(path=None):
    """Return the built-in corpus (path=None) or the UTF-8 text of the file at `path`.

    A missing or unreadable file raises the OSError naming it; text that is not UTF-8 or is
    empty raises ValueError naming the path. A leading UTF-8 byte-order mark is dropped.
    """
    if path is None:
        return _builtin_text()
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"text file {path!r} is not valid UTF-8: "
                         f"byte {raw[e.start]:#04x} at offset {e.start}") from e
    if not text:
        raise ValueError(f"text file {path!r} is empty, expected at least one character")
    return text


def _code_points(text):
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class CharVocab:
    """A character vocabulary: id i is the i-th character of `chars`.

    `CharVocab(text)` takes the sorted unique characters of `text`, so the same text always
    gives the same ids. `CharVocab.from_chars("helo")` keeps a given order.
    """

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError(f"CharVocab expected text as a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharVocab expected a non-empty text, got ''")
        self._set_chars("".join(sorted(set(text))))

    @classmethod
    def from_chars(cls, chars):
        """A vocabulary whose ids follow the order of `chars` (distinct characters)."""
        if not isinstance(chars, str):
            raise TypeError(f"CharVocab.from_chars expected chars as a str, got {type(chars).__name__}")
        if not chars:
            raise ValueError("CharVocab.from_chars expected at least one character, got ''")
        repeated = sorted(c for c, n in collections.Counter(chars).items() if n > 1)
        if repeated:
            raise ValueError(f"CharVocab.from_chars expected distinct characters, got repeated {repeated}")
        vocab = cls.__new__(cls)
        vocab._set_chars(chars)
        return vocab

    def _set_chars(self, chars):
        self.chars = chars
        self.itos = tuple(chars)
        self.stoi = types.MappingProxyType({c: i for i, c in enumerate(chars)})
        codes = _code_points(chars)
        self._order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[self._order]

    @property
    def size(self):
        return len(self.chars)

    def __len__(self):
        return len(self.chars)

    def __eq__(self, other):
        return isinstance(other, CharVocab) and self.chars == other.chars

    def __repr__(self):
        return f"CharVocab(size={self.size}, chars={self.chars[:20]!r}{'...' if self.size > 20 else ''})"

    def encode(self, text):
        """The ids of the characters of `text`, as a 1-D int64 array."""
        if not isinstance(text, str):
            raise TypeError(f"encode expected a str, got {type(text).__name__}")
        codes = _code_points(text)
        pos = np.minimum(np.searchsorted(self._sorted_codes, codes), self.size - 1)
        unknown = np.flatnonzero(self._sorted_codes[pos] != codes)
        if unknown.size:
            i = int(unknown[0])
            raise ValueError(f"encode got character {text[i]!r} at position {i}, "
                             f"which is not in the vocabulary of {self.size} characters")
        return self._order[pos].astype(np.int64)

    def decode(self, ids):
        """The text for an array-like of ids (any shape, read in C order)."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"decode expected integer ids, got dtype {ids.dtype}")
        ids = ids.ravel()
        bad = np.flatnonzero((ids < 0) | (ids >= self.size))
        if bad.size:
            raise ValueError(f"decode expected ids in [0, {self.size}), got {int(ids[bad[0]])}")
        return "".join(self.itos[i] for i in ids.tolist())

    def to_dict(self):
        """Plain JSON-able data that `from_dict` turns back into this vocabulary."""
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict) or not isinstance(data.get("chars"), str):
            raise ValueError(f"CharVocab.from_dict expected {{'chars': str}}, got {data!r:.80}")
        return cls.from_chars(data["chars"])


def train_val_split(ids, val_fraction=0.1):
    """Split a 1-D sequence into (train, val), the validation part being the last
    round(len * val_fraction) items. Contiguous, so neither part mixes in the other's text.
    Returns views of `np.asarray(ids)`.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"train_val_split expected 1-D ids, got shape {ids.shape}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"train_val_split expected val_fraction in [0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    if n_val >= len(ids):
        raise ValueError(f"train_val_split with val_fraction={val_fraction} leaves no training data "
                         f"out of {len(ids)} ids")
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]
