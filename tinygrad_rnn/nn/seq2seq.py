"""Encoder-decoder with attention: two recurrent networks and a softmax over the encoder's states.

Encoder: any recurrent layer (RNN/LSTM/GRU, bidirectional allowed) over embedded tokens, giving the
attention memory (B, S, D·H) and a summary (B, D·H), the last layer's final states side by side.
AttentionDecoder, one step (Luong et al. 2015 with input feeding):
  h_t = cell([embed(y_{t-1}); c_{t-1}], h_{t-1})     the previous token and the previous context
  c_t, a_t = attention(h_t, memory)                   a_t: weights over the source positions
  logits_t = W_out tanh(W_c [h_t; c_t])
h_0 = tanh(W_b summary) (zeros without a summary), c_0 = 0. Training feeds the true previous token
(teacher forcing); inference feeds the model's own choice (greedy_decode, beam_search).
impl="fused" (default) runs each step's cell and its dot/general attention as one graph node each
(ops/cell_step.py, ops/attention_step.py; first derivatives only); impl="unrolled" composes them from
primitive ops (any order), as the layers do.
"""
import numpy as np

from .. import ops
from ..autograd import no_grad
from ..ops.cell_step import gru_cell_step, lstm_cell_step
from ..ops.elementwise import to_tensor
from ..tensor import Tensor
from .attention import Attention
from .cells import GRUCell, LSTMCell
from .decoding import beam_search, greedy_decode
from .layers import Embedding, Linear
from .module import Module
from .rnn import RNNBase


def _tokens(x, name, what="tokens", ndim=2):
    arr = x.detach().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected {what} as integer token ids, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name}: expected {what} of {ndim} dims, got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


class Encoder(Module):
    """rnn over embedding(tokens) (or over features when embedding is None) -> (memory, summary).

    forward(source (B, S) ints or (B, S, I) floats, lengths=None): memory (B, S, D·H) batch first,
    zero past each length; summary (B, D·H), each sequence's final state of the last layer.
    """

    def __init__(self, rnn, embedding=None):
        super().__init__()
        if not isinstance(rnn, RNNBase):
            raise TypeError(f"Encoder: rnn must be an RNN, LSTM or GRU layer, got {type(rnn).__name__}")
        self.rnn, self.embedding = rnn, embedding
        self.output_size = rnn.hidden_size * rnn.num_directions

    def forward(self, source, lengths=None):
        x = self.embedding(_tokens(source, "Encoder", "source")) if self.embedding is not None else source
        if not isinstance(x, Tensor) or x.ndim != 3:
            raise ValueError(f"Encoder: expected source of shape (B, S, features), got {getattr(x, 'shape', x)}")
        out, h_n = self.rnn(x if self.rnn.batch_first else x.transpose(0, 1), lengths=lengths)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n
        D, B = self.rnn.num_directions, x.shape[0]
        summary = h_n[h_n.shape[0] - D:].permute(1, 0, 2).reshape(B, self.output_size)
        return (out if self.rnn.batch_first else out.transpose(0, 1)), summary


class AttentionDecoder(Module):
    """One decoder step with input feeding; forward runs all steps under teacher forcing.

    cell: "lstm" or "gru"; score: the Attention score ("dot", "general", "additive");
    summary_size: size of the vector that initialises h_0 (None: h_0 = 0); impl: "fused" or "unrolled".
    """

    def __init__(self, vocab_size, embedding_dim, hidden_size, memory_size, summary_size=None, cell="lstm",
                 score="general", attention_size=None, padding_idx=None, impl="fused", dtype=None):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"AttentionDecoder: cell must be 'lstm' or 'gru', got {cell!r}")
        if impl not in ("fused", "unrolled"):
            raise ValueError(f"AttentionDecoder: impl must be 'fused' or 'unrolled', got {impl!r}")
        self.impl = impl
        self.vocab_size, self.hidden_size, self.memory_size = vocab_size, hidden_size, memory_size
        self.cell_type = cell
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, dtype=dtype)
        self.cell = (LSTMCell if cell == "lstm" else GRUCell)(embedding_dim + memory_size, hidden_size, dtype=dtype)
        self.attention = Attention(hidden_size, memory_size, score=score, attention_size=attention_size, impl=impl,
                                   dtype=dtype)
        self.bridge = None if summary_size is None else Linear(summary_size, hidden_size, dtype=dtype)
        self.combine = Linear(hidden_size + memory_size, hidden_size, dtype=dtype)
        self.out = Linear(hidden_size, vocab_size, dtype=dtype)

    def start(self, memory, lengths=None, summary=None):
        """The state before the first step: (cell state, context, attention Memory)."""
        if not isinstance(memory, Tensor) or memory.ndim != 3 or memory.shape[2] != self.memory_size:
            raise ValueError(f"AttentionDecoder: expected memory of shape (B, S, {self.memory_size}), "
                             f"got {getattr(memory, 'shape', memory)}")
        B = memory.shape[0]
        zeros = to_tensor(np.zeros((B, self.hidden_size), dtype=memory.dtype))
        if self.bridge is None or summary is None:
            h = zeros
        else:
            if not isinstance(summary, Tensor) or summary.ndim != 2 or summary.shape[0] != B:
                raise ValueError(f"AttentionDecoder: expected summary of shape ({B}, {self.bridge.in_features}) "
                                 f"(batch size {B}, the memory's), got {getattr(summary, 'shape', summary)}")
            h = self.bridge(summary).tanh()
        hx = (h, zeros) if self.cell_type == "lstm" else h
        context = to_tensor(np.zeros((B, self.memory_size), dtype=memory.dtype))
        return hx, context, self.attention.memory(memory, lengths=lengths)

    def _advance(self, embedded, state):
        """(h_t, context_t, weights_t, new state) from the embedded previous tokens (B, E)."""
        hx, context, memory = state
        x = ops.cat([embedded, context], dim=1)
        hx = self.cell(x, hx) if self.impl == "unrolled" else self._fused_cell(x, hx)
        h = hx[0] if self.cell_type == "lstm" else hx
        context, weights = self.attention.attend(h, memory)
        return h, context, weights, (hx, context, memory)

    def _fused_cell(self, x, hx):
        """The cell's step as one node: the same maths as self.cell(x, hx)."""
        c = self.cell
        if x.dtype != c.weight_ih.dtype:
            raise TypeError(f"AttentionDecoder: expected a memory of dtype {c.weight_ih.dtype}, got {x.dtype}")
        if self.cell_type == "lstm":
            return lstm_cell_step(x, hx[0], hx[1], c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)
        return gru_cell_step(x, hx, c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh)

    def logits(self, h, context):
        """W_out tanh(W_c [h; c]) for (..., H) and (..., memory_size)."""
        return self.out(self.combine(ops.cat([h, context], dim=-1)).tanh())

    def step(self, tokens, state):
        """(logits (B, V), new state, attention weights (B, S)) after feeding tokens (B,)."""
        h, context, weights, state = self._advance(self.embedding(_tokens(tokens, "AttentionDecoder", ndim=1)), state)
        return self.logits(h, context), state, weights

    def forward(self, inputs, memory, lengths=None, summary=None):
        """Teacher forcing: inputs (B, T) are the previous tokens of each step (start token first).

        Returns logits (B, T, V) and attention weights (B, T, S).
        """
        inputs = _tokens(inputs, "AttentionDecoder", "inputs")
        if inputs.shape[0] != memory.shape[0]:
            raise ValueError(f"AttentionDecoder: inputs have batch size {inputs.shape[0]} but memory has "
                             f"{memory.shape[0]}")
        state = self.start(memory, lengths, summary)
        embedded = self.embedding(inputs.T)  # (T, B, E): one lookup for all steps
        hs, contexts, weights = [], [], []
        for e in embedded.unbind(0):
            h, context, w, state = self._advance(e, state)
            hs.append(h)
            contexts.append(context)
            weights.append(w)
        logits = self.logits(ops.stack(hs, dim=1), ops.stack(contexts, dim=1))
        return logits, ops.stack(weights, dim=1)


class Seq2Seq(Module):
    """encoder(source, lengths) -> (memory, summary), then the AttentionDecoder over that memory."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, source, inputs, lengths=None):
        """Teacher-forced logits (B, T, V) and attention weights (B, T, S)."""
        if len(source) != len(inputs):
            raise ValueError(f"Seq2Seq: source has batch size {len(source)} but inputs have {len(inputs)}")
        memory, summary = self.encoder(source, lengths)
        return self.decoder(inputs, memory, lengths, summary)

    def _stepper(self, source, lengths):
        memory, summary = self.encoder(source, lengths)
        state = self.decoder.start(memory, lengths, summary)

        def step(tokens, state):
            logits, state, _ = self.decoder.step(tokens, state)
            return ops.log_softmax(logits, dim=-1), state
        return step, state, memory.shape[0]

    def greedy_decode(self, source, start_token, end_token, max_length, lengths=None):
        """(tokens (B, L), lengths, log-probs): see nn.decoding.greedy_decode."""
        with no_grad():
            step, state, B = self._stepper(source, lengths)
            return greedy_decode(step, state, np.full(B, start_token, np.int64), end_token, max_length)

    def beam_search(self, source, start_token, end_token, max_length, beam_width=4, length_penalty=0.0,
                    lengths=None):
        """(tokens (B, L), lengths, scores): see nn.decoding.beam_search."""
        with no_grad():
            step, state, B = self._stepper(source, lengths)
            return beam_search(step, state, np.full(B, start_token, np.int64), end_token, max_length,
                               beam_width, length_penalty)
