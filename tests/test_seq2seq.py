"""Encoder, AttentionDecoder and Seq2Seq: finite differences in float64, teacher forcing equals
step-by-step decoding, padding equals running each sequence alone, and bad input."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from recurrent_table import make_layer

SRC_VOCAB, TGT_VOCAB, E, H = 7, 6, 3, 4
SOURCE = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [2, 0, 0, 0]])
LENGTHS = [4, 2, 1]
INPUTS = np.array([[1, 2, 3], [4, 5, 1], [2, 2, 2]])


def make_model(rnn="lstm", cell="lstm", score="general", bidirectional=True, summary=True, impl="fused",
               decoder_impl="fused"):
    layer = make_layer(rnn, E, H, impl, bidirectional=bidirectional)
    encoder = nn.Encoder(layer, nn.Embedding(SRC_VOCAB, E, dtype=np.float64))
    size = encoder.output_size
    decoder = nn.AttentionDecoder(TGT_VOCAB, E, H, size, summary_size=size if summary else None, cell=cell,
                                  score=score, attention_size=3, impl=decoder_impl, dtype=np.float64)
    return nn.Seq2Seq(encoder, decoder)


@pytest.mark.parametrize("decoder_impl", ["fused", "unrolled"])
@pytest.mark.parametrize("rnn, cell, score, bidirectional", [
    ("lstm", "lstm", "general", True), ("gru", "gru", "additive", False), ("rnn_tanh", "lstm", "dot", False),
    ("gru", "lstm", "additive", True)])
def test_gradcheck_every_parameter(rnn, cell, score, bidirectional, decoder_impl):
    model = make_model(rnn, cell, score, bidirectional, decoder_impl=decoder_impl)  # dot: one direction
    assert tg.gradcheck(lambda *p: model(SOURCE, INPUTS, LENGTHS)[0], list(model.parameters()),
                        mode="projection", atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_and_unrolled_decoder_steps_agree(cell):
    results = []
    for impl in ("fused", "unrolled"):
        tg.manual_seed(0)
        model = make_model(cell=cell, score="additive", decoder_impl=impl)
        logits, weights = model(SOURCE, INPUTS, LENGTHS)
        (logits * tg.tensor(np.linspace(-1, 1, logits.numel()).reshape(logits.shape))).sum().backward()
        results.append([logits.detach().numpy(), weights.detach().numpy()] +
                       [p.grad.numpy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_encoder_memory_and_summary():
    model = make_model(impl="unrolled")
    memory, summary = model.encoder(SOURCE, LENGTHS)
    assert memory.shape == (3, 4, 2 * H) and summary.shape == (3, 2 * H)
    m = memory.detach().numpy()
    assert (m[1, 2:] == 0).all() and (m[2, 1:] == 0).all()  # zero past each length
    out, (h_n, _) = model.encoder.rnn(model.encoder.embedding(SOURCE).transpose(0, 1), lengths=LENGTHS)
    np.testing.assert_array_equal(summary.detach().numpy()[:, :H], h_n.detach().numpy()[0])
    np.testing.assert_array_equal(summary.detach().numpy()[:, H:], h_n.detach().numpy()[1])
    np.testing.assert_array_equal(m, out.transpose(0, 1).detach().numpy())


def test_teacher_forcing_equals_feeding_the_same_tokens_step_by_step():
    model = make_model(score="additive")
    logits, weights = model(SOURCE, INPUTS, LENGTHS)
    memory, summary = model.encoder(SOURCE, LENGTHS)
    state = model.decoder.start(memory, LENGTHS, summary)
    for t in range(INPUTS.shape[1]):
        step_logits, state, w = model.decoder.step(INPUTS[:, t], state)
        np.testing.assert_allclose(step_logits.detach().numpy(), logits.detach().numpy()[:, t], rtol=1e-12)
        np.testing.assert_allclose(w.detach().numpy(), weights.detach().numpy()[:, t], rtol=1e-12)


def test_outputs_are_causal_in_the_decoder_inputs():
    model = make_model()
    logits = model(SOURCE, INPUTS, LENGTHS)[0].detach().numpy()
    changed = INPUTS.copy()
    changed[:, 2] = 0
    other = model(SOURCE, changed, LENGTHS)[0].detach().numpy()
    np.testing.assert_array_equal(logits[:, :2], other[:, :2])
    assert not np.allclose(logits[:, 2], other[:, 2])


@pytest.mark.parametrize("score", ["general", "additive"])
def test_padded_batch_equals_each_sequence_alone(score):
    model = make_model(score=score)
    logits, weights = model(SOURCE, INPUTS, LENGTHS)
    for b, n in enumerate(LENGTHS):
        alone, w = model(SOURCE[b:b + 1, :n], INPUTS[b:b + 1], [n])
        np.testing.assert_allclose(logits.detach().numpy()[b:b + 1], alone.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(weights.detach().numpy()[b:b + 1, :, :n], w.detach().numpy(), rtol=1e-10)
        assert (weights.detach().numpy()[b, :, n:] == 0).all()


def test_padded_source_positions_get_no_gradient():
    model = make_model(score="additive")
    memory, summary = model.encoder(SOURCE, LENGTHS)
    memory.retain_grad()
    logits, _ = model.decoder(INPUTS, memory, LENGTHS, summary)
    logits.sum().backward()
    g = memory.grad.numpy()
    assert (g[1, 2:] == 0).all() and (g[2, 1:] == 0).all() and (np.abs(g[0]).sum(-1) > 0).all()


def test_decoding_runs_batched_and_matches_one_by_one():
    model = make_model(score="additive")
    tokens, lengths, scores = model.beam_search(SOURCE, 1, 0, 6, beam_width=3, lengths=LENGTHS)
    g_tokens, g_lengths, _ = model.greedy_decode(SOURCE, 1, 0, 6, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        t1, l1, s1 = model.beam_search(SOURCE[b:b + 1, :n], 1, 0, 6, beam_width=3, lengths=[n])
        assert l1[0] == lengths[b] and (t1[0, :l1[0]] == tokens[b, :lengths[b]]).all()
        np.testing.assert_allclose(s1[0], scores[b], rtol=1e-10)
        g1, gl1, _ = model.greedy_decode(SOURCE[b:b + 1, :n], 1, 0, 6, lengths=[n])
        assert gl1[0] == g_lengths[b] and (g1[0, :gl1[0]] == g_tokens[b, :g_lengths[b]]).all()


def test_greedy_score_is_the_log_probability_of_its_output_under_teacher_forcing():
    model = make_model()
    tokens, lengths, scores = model.greedy_decode(SOURCE, 1, 0, 5, lengths=LENGTHS)
    inputs = np.concatenate([np.ones((3, 1), np.int64), tokens[:, :-1]], axis=1)
    logp = tg.log_softmax(model(SOURCE, inputs, LENGTHS)[0], dim=-1).detach().numpy()
    for b in range(3):
        n = min(lengths[b] + 1, tokens.shape[1])
        np.testing.assert_allclose(scores[b], logp[b, np.arange(n), tokens[b, :n]].sum(), rtol=1e-10)


def test_bad_input():
    model = make_model()
    with pytest.raises(ValueError, match="source has batch size 3 but inputs have 2"):
        model(SOURCE, INPUTS[:2], LENGTHS)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        model(SOURCE, INPUTS, [5, 2, 1])
    with pytest.raises(ValueError, match="lengths"):
        model(SOURCE, INPUTS, [4, 2])
    with pytest.raises(TypeError, match="integer token ids"):
        model(SOURCE.astype(float), INPUTS, LENGTHS)
    with pytest.raises(ValueError, match="beam_width must be an int >= 1"):
        model.beam_search(SOURCE, 1, 0, 5, beam_width=0, lengths=LENGTHS)
    with pytest.raises(ValueError, match="max_length must be an int >= 1"):
        model.greedy_decode(SOURCE, 1, 0, 0, lengths=LENGTHS)
    with pytest.raises(ValueError, match="end_token 9 is out of range"):
        model.greedy_decode(SOURCE, 1, 9, 5, lengths=LENGTHS)
    memory, summary = model.encoder(SOURCE, LENGTHS)
    with pytest.raises(ValueError, match=r"expected summary of shape \(3, 8\)"):
        model.decoder.start(memory, LENGTHS, summary[:2])
    with pytest.raises(ValueError, match="expected memory of shape"):
        model.decoder.start(memory[:, :, :3], LENGTHS, summary)
    with pytest.raises(ValueError, match="impl must be 'fused' or 'unrolled'"):
        nn.AttentionDecoder(5, 3, 4, 4, impl="compiled")
    with pytest.raises(ValueError, match="cell must be 'lstm' or 'gru'"):
        nn.AttentionDecoder(5, 3, 4, 4, cell="rnn")
    with pytest.raises(TypeError, match="rnn must be an RNN, LSTM or GRU"):
        nn.Encoder(nn.Linear(3, 4))
