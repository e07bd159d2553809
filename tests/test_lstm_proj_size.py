"""LSTM(proj_size=P) as PyTorch's: parameter names and shapes, outputs, states and every gradient."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (2, False, False)])
def test_parameters_are_named_and_shaped_as_pytorch(impl, num_layers, bidirectional, bias):
    torch = pytest.importorskip("torch")
    ours = nn.LSTM(3, 5, num_layers, bias=bias, bidirectional=bidirectional, proj_size=2, impl=impl)
    theirs = torch.nn.LSTM(3, 5, num_layers, bias=bias, bidirectional=bidirectional, proj_size=2)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]


@pytest.mark.parametrize("impl", ["fused", "unrolled"])
@pytest.mark.parametrize("num_layers,bidirectional,batch_first", [(1, False, False), (2, True, True)])
def test_outputs_states_and_gradients_match_pytorch(impl, num_layers, bidirectional, batch_first):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.LSTM(3, 5, num_layers, bidirectional=bidirectional, batch_first=batch_first,
                           proj_size=2).double()
    ours = nn.LSTM(3, 5, num_layers, bidirectional=bidirectional, batch_first=batch_first, proj_size=2,
                   impl=impl, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(0)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((4, 6, 3) if batch_first else (6, 4, 3))
    h0, c0 = rng.standard_normal((num_layers * D, 4, 2)), rng.standard_normal((num_layers * D, 4, 5))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    xo, ho, co = (tg.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_t, (hn_t, cn_t) = theirs(xt, (ht, ct))
    out_o, (hn_o, cn_o) = ours(xo, (ho, co))
    assert out_o.shape == tuple(out_t.shape) and hn_o.shape == (num_layers * D, 4, 2)
    for a, b in ((out_o, out_t), (hn_o, hn_t), (cn_o, cn_t)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    ((out_t ** 2).sum() + hn_t.sum() + (cn_t * 0.5).sum()).backward()
    ((out_o ** 2).sum() + hn_o.sum() + (cn_o * 0.5).sum()).backward()
    for a, b in ((xo, xt), (ho, ht), (co, ct)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def _graph_functions(t):
    """Names of the Functions in the graph that made t."""
    seen, stack, names = set(), [t._ctx], set()
    while stack:
        ctx = stack.pop()
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        names.add(ctx.fn.__name__)
        stack += [a._ctx for a in ctx.inputs if isinstance(a, tg.Tensor)]
    return names


@pytest.mark.parametrize("bidirectional,with_lengths", [(False, False), (True, True), (False, True)])
def test_fused_is_compiled_and_matches_unrolled(bidirectional, with_lengths):
    """impl="fused" with proj_size runs the compiled step (one CompiledSequence node per layer and
    direction) and agrees with the unrolled graph to 1e-10 on outputs, states and every gradient."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 3, 4))
    lengths = [7, 2, 5] if with_lengths else None
    D = 2 if bidirectional else 1
    h0, c0 = rng.standard_normal((2 * D, 3, 2)), rng.standard_normal((2 * D, 3, 6))
    results = {}
    for impl in ("fused", "unrolled"):
        tg.manual_seed(0)
        lstm = nn.LSTM(4, 6, 2, bidirectional=bidirectional, proj_size=2, impl=impl, dtype=np.float64)
        xs, hs, cs = (tg.tensor(a, requires_grad=True) for a in (x, h0, c0))
        out, (hn, cn) = lstm(xs, (hs, cs), lengths=lengths)
        ((out ** 2).sum() + (hn * 0.3).sum() + (cn * cn).sum()).backward()
        assert ("CompiledSequence" in _graph_functions(out)) == (impl == "fused")
        results[impl] = [t.detach().numpy() for t in (out, hn, cn)] + \
            [t.grad.numpy() for t in (xs, hs, cs, *lstm.parameters())]
    for a, b in zip(results["fused"], results["unrolled"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_compiled_step_is_traced_once_and_reads_the_current_parameters(monkeypatch):
    """The library's own step is traced once per structure and sizes; later calls hand the cached plan
    their own tensors, so a changed or replaced parameter (after an optimizer step, or assigned) is
    what the kernels read, gradients included (compared with the unrolled graph)."""
    from tinygrad_rnn import compiler
    traces = []
    real = compiler.trace
    monkeypatch.setattr(compiler, "trace", lambda *a, **k: traces.append(1) or real(*a, **k))
    monkeypatch.setattr(compiler, "_plans", {})
    tg.manual_seed(0)
    fused = nn.LSTM(3, 5, proj_size=2, dtype=np.float64)
    unrolled = nn.LSTM(3, 5, proj_size=2, dtype=np.float64, impl="unrolled")
    x = tg.tensor(np.random.default_rng(4).standard_normal((6, 2, 3)))
    for change in range(3):
        if change == 1:  # in place, as an optimizer step
            fused.weight_hh_l0.detach().numpy()[:] *= -1.5
            fused.bias_ih_l0.detach().numpy()[:] += 0.25
        if change == 2:  # replaced
            fused.weight_hr_l0 = nn.Parameter(tg.randn(2, 5, dtype=np.float64))
        unrolled.load_state_dict(fused.state_dict())
        results = []
        for lstm in (fused, unrolled):
            lstm.zero_grad()
            out, (hn, cn) = lstm(x)
            ((out ** 2).sum() + cn.sum()).backward()
            results.append([out.detach().numpy(), cn.detach().numpy()] + [p.grad.numpy() for p in lstm.parameters()])
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert len(traces) == 1


def test_gradcheck_and_bad_proj_size():
    lstm = nn.LSTM(2, 3, proj_size=1, dtype=np.float64)
    x = tg.tensor(np.random.default_rng(1).standard_normal((4, 2, 2)), requires_grad=True)
    assert tg.gradcheck(lambda x, *p: lstm(x)[0], [x, *lstm.parameters()])
    for bad in (3, -1, 1.5):
        with pytest.raises(ValueError, match="proj_size"):
            nn.LSTM(2, 3, proj_size=bad)
    with pytest.raises(TypeError, match="proj_size"):
        nn.GRU(2, 3, proj_size=1)
    with pytest.raises(ValueError, match="h0 of size 1"):
        lstm(x, (tg.zeros(1, 2, 3, dtype=np.float64), tg.zeros(1, 2, 3, dtype=np.float64)))
