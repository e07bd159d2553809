"""Attention (dot, general, additive) and masked_softmax: NumPy references, finite differences in
float64 with and without key padding masks, exact zeros at masked positions, and bad input."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

B, S, T, D = 3, 5, 2, 4
LENGTHS = [5, 2, 1]
SCORES = ["dot", "general", "additive"]


def t64(a, requires_grad=False):
    return tg.tensor(np.asarray(a, dtype=np.float64), dtype=np.float64, requires_grad=requires_grad)


def data(seed=0, single=True, value_size=3):
    rng = np.random.default_rng(seed)
    q = t64(rng.standard_normal((B, D) if single else (B, T, D)), True)
    k = t64(rng.standard_normal((B, S, D)), True)
    v = t64(rng.standard_normal((B, S, value_size)), True)
    return q, k, v


def reference(module, q, k, v, lengths):
    """The score formulas on arrays, a softmax over the kept positions, and the weighted values."""
    q, k, v = (a.detach().numpy() for a in (q, k, v))
    q3 = q[:, None, :] if q.ndim == 2 else q
    if module.score == "dot":
        scores = q3 @ k.transpose(0, 2, 1)
    elif module.score == "general":
        scores = q3 @ (k @ module.key_proj.weight.detach().numpy().T).transpose(0, 2, 1)
    else:
        wq, wk = module.query_proj.weight.detach().numpy(), module.key_proj.weight.detach().numpy()
        pre = (q3 @ wq.T)[:, :, None, :] + (k @ wk.T)[:, None, :, :]
        scores = np.tanh(pre) @ module.score_weight.detach().numpy()
    keep = np.ones((B, S), bool) if lengths is None else np.arange(S)[None, :] < np.asarray(lengths)[:, None]
    e = np.where(keep[:, None, :], np.exp(scores - scores.max(-1, keepdims=True)), 0.0)
    w = e / e.sum(-1, keepdims=True)
    c = w @ v
    return (c[:, 0], w[:, 0]) if q.ndim == 2 else (c, w)


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("lengths", [None, LENGTHS])
@pytest.mark.parametrize("single", [True, False])
def test_module_matches_reference_and_gradcheck(score, lengths, single, impl):
    att = nn.Attention(D, D, score=score, attention_size=3, impl=impl, dtype=np.float64)
    q, k, v = data(single=single)
    context, weights = att(q, k, v, lengths=lengths)
    ref_c, ref_w = reference(att, q, k, v, lengths)
    np.testing.assert_allclose(context.detach().numpy(), ref_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(weights.detach().numpy(), ref_w, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(lambda q, k, v, *p: att(q, k, v, lengths=lengths), [q, k, v, *att.parameters()],
                        atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_functional_forms_match_the_module(lengths):
    q, k, v = data(single=False)
    dot = nn.Attention(D, score="dot", dtype=np.float64)
    for a, b in zip(F.dot_attention(q, k, v, lengths=lengths), dot(q, k, v, lengths=lengths)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    add = nn.Attention(D, score="additive", attention_size=3, dtype=np.float64)
    args = (add.query_proj.weight, add.key_proj.weight, add.score_weight)
    for a, b in zip(F.additive_attention(q, k, v, *args, lengths=lengths), add(q, k, v, lengths=lengths)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert tg.gradcheck(lambda q, k, v, *w: F.additive_attention(q, k, v, *w, lengths=lengths),
                        [q, k, v, *args], atol=1e-8, rtol=1e-6)
    assert tg.gradcheck(lambda q, k, v: F.dot_attention(q, k, v, lengths=lengths, scale=0.5), [q, k, v],
                        atol=1e-8, rtol=1e-6)


def test_scale_multiplies_dot_scores():
    q, k, v = data()
    _, w = F.dot_attention(q, k, v, scale=0.25)
    _, w_ref = F.dot_attention(q * 0.25, k, v)
    np.testing.assert_allclose(w.detach().numpy(), w_ref.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("score", SCORES)
def test_padded_sequence_equals_the_sequence_alone(score):
    """Masking by lengths is the same as attending over each sequence's own prefix of the memory."""
    att = nn.Attention(D, score=score, dtype=np.float64)
    q, k, v = data(single=False)
    context, weights = att(q, k, v, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        c1, w1 = att(q[b:b + 1], k[b:b + 1, :n], v[b:b + 1, :n])
        np.testing.assert_allclose(context.detach().numpy()[b:b + 1], c1.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(weights.detach().numpy()[b:b + 1, :, :n], w1.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("single", [True, False])
@pytest.mark.parametrize("score", SCORES)
def test_masked_positions_get_exactly_zero_weight_and_gradient(score, single):
    att = nn.Attention(D, score=score, dtype=np.float64)
    q, k, v = data(single=single)
    context, weights = att(q, k, v, lengths=LENGTHS)
    (context * t64(np.random.default_rng(1).standard_normal(context.shape))).sum().backward()
    padded = np.arange(S)[None, :] >= np.asarray(LENGTHS)[:, None]
    assert (weights.detach().numpy()[padded if single else padded[:, None, :].repeat(T, 1)] == 0.0).all()
    assert (k.grad.numpy()[padded] == 0.0).all() and (v.grad.numpy()[padded] == 0.0).all()
    assert (np.abs(v.grad.numpy()[~padded]).sum(-1) > 0).all()  # and the kept ones do get gradient
    assert (np.abs(k.grad.numpy()[:2][~padded[:2]]).sum(-1) > 0).all()  # (a length-1 softmax is constant)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_fused_step_equals_the_composed_one_and_refuses_second_derivatives(score):
    q, k, v = data()
    results = []
    for impl in ("fused", "unrolled"):
        tg.manual_seed(0)
        att = nn.Attention(D, score=score, impl=impl, dtype=np.float64)
        context, weights = att(q, k, v, lengths=LENGTHS)
        upstream = [t64(np.random.default_rng(s).standard_normal(o.shape)) for s, o in enumerate((context, weights))]
        grads = tg.autograd.grad([context, weights], [q, k, v, *att.parameters()], upstream)
        results.append([context.detach().numpy(), weights.detach().numpy()] + [g.numpy() for g in grads])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    att = nn.Attention(D, score=score, dtype=np.float64)
    with pytest.raises(RuntimeError, match='impl="unrolled"'):
        tg.autograd.grad(att(q, k, v)[0].sum(), [q], create_graph=True)


def test_masked_softmax_values_gradient_and_second_derivative():
    rng = np.random.default_rng(2)
    x = t64(rng.standard_normal((2, 3, 4)), True)
    mask = rng.random((2, 3, 4)) < 0.6
    mask[..., 0] = True
    y = F.masked_softmax(x, mask)
    e = np.where(mask, np.exp(x.detach().numpy()), 0.0)
    np.testing.assert_allclose(y.detach().numpy(), e / e.sum(-1, keepdims=True), rtol=1e-13)
    (y * t64(rng.standard_normal(y.shape))).sum().backward()
    assert (y.detach().numpy()[~mask] == 0.0).all() and (x.grad.numpy()[~mask] == 0.0).all()
    assert tg.gradcheck(lambda x: F.masked_softmax(x, mask), [x], atol=1e-8, rtol=1e-6)
    assert tg.gradgradcheck(lambda x: F.masked_softmax(x, mask), [x], atol=1e-7, rtol=1e-5)


def test_masked_softmax_is_finite_for_large_scores_and_ignores_masked_infinities():
    x = t64([[1e4, -1e4, np.inf], [-1e4, -1e4, np.nan]])
    y = F.masked_softmax(x, np.array([[True, True, False], [True, True, False]])).detach().numpy()
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_an_all_masked_row_raises_instead_of_nan():
    x = t64(np.zeros((2, 3)), True)
    with pytest.raises(ValueError, match=r"row \(1,\).*keeps no position"):
        F.masked_softmax(x, np.array([[True, False, False], [False, False, False]]))
    q, k, v = data()
    mask = np.ones((B, S), bool)
    mask[2] = False
    with pytest.raises(ValueError, match="keeps no position"):
        F.dot_attention(q, k, v, mask=mask)


def test_mask_and_lengths_agree():
    q, k, v = data(single=False)
    mask = nn.key_padding_mask(LENGTHS, S)
    assert mask.tolist()[1] == [True, True, False, False, False]
    for a, b in zip(F.dot_attention(q, k, v, mask=mask), F.dot_attention(q, k, v, lengths=LENGTHS)):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_memory_is_computed_once_and_reused():
    att = nn.Attention(D, score="additive", dtype=np.float64)
    q, k, v = data(single=False)
    memory = att.memory(k, v, lengths=LENGTHS)
    steps = [att.attend(q[:, t], memory)[0].detach().numpy() for t in range(T)]
    np.testing.assert_allclose(np.stack(steps, 1), att(q, k, v, lengths=LENGTHS)[0].detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("lengths, message", [([5, 2], r"lengths has 2 entries"), ([5, 0, 1], r"lengths must be in \[1, 5\]"),
                                               ([6, 1, 1], r"lengths must be in \[1, 5\]")])
def test_bad_lengths(lengths, message):
    q, k, v = data()
    with pytest.raises(ValueError, match=message):
        F.dot_attention(q, k, v, lengths=lengths)
    with pytest.raises(TypeError, match="lengths must be integers"):
        F.dot_attention(q, k, v, lengths=[1.0, 2.0, 3.0])


def test_bad_shapes_and_arguments():
    q, k, v = data()
    with pytest.raises(ValueError, match="query has batch size 2 but the memory has 3"):
        F.dot_attention(q[:2], k, v)
    with pytest.raises(ValueError, match=r"values of shape \(3, 4, 3\) do not match keys"):
        F.dot_attention(q, k, v[:, :4])
    with pytest.raises(ValueError, match="expected keys of shape"):
        F.dot_attention(q, k[0], v)
    with pytest.raises(ValueError, match="expected query of size 4"):
        F.dot_attention(q[:, :3], k, v)
    with pytest.raises(TypeError, match="query dtype float32"):
        F.dot_attention(q.float(), k, v)
    with pytest.raises(ValueError, match="pass lengths or mask, not both"):
        F.dot_attention(q, k, v, lengths=LENGTHS, mask=np.ones((B, S), bool))
    with pytest.raises(ValueError, match="mask must be bool of shape"):
        F.dot_attention(q, k, v, mask=np.ones((B, S)))
    with pytest.raises(ValueError, match="score must be one of"):
        nn.Attention(D, score="cosine")
    with pytest.raises(ValueError, match="dot score needs key_size == query_size"):
        nn.Attention(D, 3, score="dot")
    with pytest.raises(ValueError, match="expected keys of size 3"):
        nn.Attention(D, 3, dtype=np.float64)(q, k, v)
    with pytest.raises(ValueError, match="impl must be 'fused' or 'unrolled'"):
        nn.Attention(D, impl="compiled")
    with pytest.raises(ValueError, match="query has batch size 2 but the memory has 3"):
        nn.Attention(D, dtype=np.float64)(q[:2], k, v)
    with pytest.raises(ValueError, match="query_size must be a positive int"):
        nn.Attention(0)
