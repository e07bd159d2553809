"""A character language model: embedding (or one-hot) -> RNN/LSTM/GRU -> Linear over the vocabulary.

Reusable outside the CLI (notebooks): build with `CharLM(vocab_size, ...)`, train on the chunks of a
`data.TBPTTBatcher` carrying the state with `detach_state`, score with `evaluate` (nats and bits per
character) and sample with `generate`. `config()` is plain data, so a checkpoint can rebuild the model.
"""
import contextlib
import functools
import math

import numpy as np

from .. import interop, nn, onnx
from ..autograd import no_grad
from ..data import CharVocab, TBPTTBatcher
from ..random import generator
from ..tensor import Tensor, get_default_dtype

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
LN2 = math.log(2.0)


class CharLM(nn.Module):
    """Logits of the next character for every position of a (T, B) array of character ids.

    embedding_dim=0 feeds one-hot vectors to the recurrent layer instead of a learned embedding.
    """

    def __init__(self, vocab_size, hidden_size=256, num_layers=1, model="lstm", dropout=0.0,
                 embedding_dim=64, impl="fused", dtype=None):
        super().__init__()
        if model not in LAYERS:
            raise ValueError(f"CharLM: model must be one of {sorted(LAYERS)}, got {model!r}")
        self.vocab_size, self.model_type, self.embedding_dim = int(vocab_size), model, int(embedding_dim)
        dtype = np.dtype(dtype or get_default_dtype())
        self.embed = nn.Embedding(vocab_size, embedding_dim, dtype=dtype) if embedding_dim else None
        # dropout between recurrent layers only where there are two (one layer would only warn)
        self.rnn = LAYERS[model](embedding_dim or vocab_size, hidden_size, num_layers,
                                 dropout=dropout if num_layers > 1 else 0.0, impl=impl, dtype=dtype)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype)

    def config(self):
        """The constructor arguments, as plain data (stored in checkpoints)."""
        return {"vocab_size": self.vocab_size, "hidden_size": self.rnn.hidden_size,
                "num_layers": self.rnn.num_layers, "model": self.model_type, "dropout": self.drop.p,
                "embedding_dim": self.embedding_dim}

    def forward(self, ids, state=None):
        """ids (T, B) ints -> logits (T, B, vocab_size) and the recurrent state after the last step.
        The head runs on (T*B, H) rows: one 2-D matrix product instead of T batched ones."""
        ids = np.asarray(ids._data if isinstance(ids, Tensor) else ids, dtype=np.int64)
        dtype = self.head.weight.dtype
        x = self.embed(ids) if self.embed is not None else Tensor(np.eye(self.vocab_size, dtype=dtype)[ids])
        out, state = self.rnn(x, state)
        T, B, H = out.shape
        return self.head(self.drop(out.reshape(T * B, H))).reshape(T, B, -1), state


@functools.cache
def torch_charlm_class():
    """The PyTorch twin of CharLM (built on first use, so that torch stays optional)."""
    import torch

    class TorchCharLM(torch.nn.Module):
        """CharLM in PyTorch: embedding (or one-hot) -> RNN/LSTM/GRU -> Linear; same parameter names
        (embed.*, rnn.*, head.*) and forward(ids (T, B), state)."""

        def __init__(self, vocab_size, hidden_size=256, num_layers=1, model="lstm", dropout=0.0, embedding_dim=64,
                     dtype=None):
            super().__init__()
            layers = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
            self.vocab_size, self.model_type, self.embedding_dim = vocab_size, model, embedding_dim
            self.embed = torch.nn.Embedding(vocab_size, embedding_dim, dtype=dtype) if embedding_dim else None
            self.rnn = layers[model](embedding_dim or vocab_size, hidden_size, num_layers,
                                     dropout=dropout if num_layers > 1 else 0.0, dtype=dtype)
            self.drop = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden_size, vocab_size, dtype=dtype)

        config = CharLM.config

        def forward(self, ids, state=None):
            ids = torch.as_tensor(ids, dtype=torch.int64)
            if self.embed is not None:
                x = self.embed(ids)
            else:
                x = torch.nn.functional.one_hot(ids, self.vocab_size).to(self.head.weight.dtype)
            out, state = self.rnn(x, state)
            T, B, H = out.shape
            return self.head(self.drop(out.reshape(T * B, H))).reshape(T, B, -1), state

    return TorchCharLM


interop.register("CharLM", CharLM, torch_charlm_class, lambda m: m.config(), takes_impl=True)
onnx.register_language_model(CharLM)


def detach_state(state):
    """The recurrent state cut from its graph: truncated BPTT between consecutive chunks."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def chunk_loss(model, inputs, targets, state=None):
    """Mean cross-entropy (nats) of one (T, B) chunk, and the state after it."""
    logits, state = model(inputs, state)
    V = logits.shape[-1]
    return nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)), state


@contextlib.contextmanager
def _eval_mode(model):
    """model.eval() for the block, then the mode it had, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def evaluate(model, ids, batch_size=32, seq_len=100):
    """(mean loss in nats, bits per character) of the model over ids (at least 2), read as TBPTT
    chunks with the state carried through. batch_size and seq_len shrink to fit short texts."""
    batch_size = max(1, min(batch_size, len(ids) - 1))
    seq_len = max(1, min(seq_len, (len(ids) - 1) // batch_size))
    batcher = TBPTTBatcher(ids, batch_size, seq_len)
    total, state = 0.0, None
    with no_grad(), _eval_mode(model):
        for inputs, targets in batcher:
            loss, state = chunk_loss(model, inputs, targets, state)
            total += loss.item()
    nats = total / len(batcher)
    return nats, nats / LN2


def sample_next(logits, temperature, rng):
    """An id drawn from softmax(logits / temperature); temperature 0 takes the most likely id."""
    logits = np.asarray(logits, dtype=np.float64)
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def generate(model, vocab, length, prime="", temperature=0.8, rng=None):
    """`prime` followed by `length` sampled characters. The prime (checked by vocab.encode) warms up
    the state; without one, the model starts from a newline (or the first character of the vocabulary).
    rng: a np.random.Generator (default: the library's, fixed by manual_seed)."""
    rng = generator() if rng is None else rng
    start = prime or ("\n" if "\n" in vocab.stoi else vocab.chars[0])
    ids = vocab.encode(start)
    out = []
    with no_grad(), _eval_mode(model):
        logits, state = model(ids[:, None])
        for i in range(length):
            if i:
                logits, state = model(np.array([[out[-1]]]), state)
            out.append(sample_next(logits._data[-1, 0], temperature, rng))
    return prime + vocab.decode(np.array(out, dtype=np.int64))


CHECKPOINT_KIND = "tinygrad_rnn.charlm"


def checkpoint(model, vocab, optimizer=None, step=0, **extra):
    """A dict for `tinygrad_rnn.save`: model config, vocabulary chars, weights, optimizer state, step."""
    ckpt = {"kind": CHECKPOINT_KIND, "config": model.config(), "vocab": vocab.to_dict(),
            "model": model.state_dict(), "step": int(step), **extra}
    if optimizer is not None:
        ckpt["optimizer"] = {"name": type(optimizer).__name__, "state": optimizer.state_dict()}
    return ckpt


def from_checkpoint(ckpt):
    """(model, vocab) rebuilt from a loaded `checkpoint` dict; ValueError naming what is wrong."""
    if not isinstance(ckpt, dict) or ckpt.get("kind") != CHECKPOINT_KIND:
        raise ValueError("it is not a character language model checkpoint")
    try:
        vocab = CharVocab.from_dict(ckpt["vocab"])
        model = CharLM(**ckpt["config"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(" ".join(f"{type(e).__name__}: {e}".split())) from None
    if model.vocab_size != vocab.size:
        raise ValueError(f"its model predicts {model.vocab_size} characters but its vocabulary has {vocab.size}")
    return model, vocab
