"""Module hooks (nn/hooks.py) and the rest of Module's PyTorch API (get_submodule, get_parameter,
get_buffer, load_state_dict(assign=True), modules(remove_duplicate)): what each hook sees and what
its result changes, against PyTorch when it is installed."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

from optional_torch import lib_nn as _nn, needs_torch, torch


def _model(L):
    L.manual_seed(0)
    model = _nn(L).Sequential(_nn(L).Linear(3, 4), _nn(L).Tanh(), _nn(L).Linear(4, 2)).double()
    return model


def _copy(ours, theirs):
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def _run(L, model, register):
    """Register hooks with register(L, model, log); one forward and backward; (log, output, x.grad, grads)."""
    log = []
    handles = register(L, model, log)
    x = L.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    y = model(x)
    y.backward(L.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=L.float64))
    grads = [p.grad.numpy() for p in model.parameters()]
    for h in handles:
        h.remove()
    y2 = model(x)  # no hooks any more
    return log, y.detach().numpy(), x.grad.numpy(), grads, y2.detach().numpy()


def _arrays(value):
    if value is None:
        return [None]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [value.detach().numpy()]


HOOKS = {
    "forward_pre_scales_the_input": lambda L, m, log: [m[0].register_forward_pre_hook(
        lambda mod, args: (log.append(_arrays(args)), (args[0] * 2.0,))[1])],
    "forward_replaces_the_output": lambda L, m, log: [m[1].register_forward_hook(
        lambda mod, args, out: (log.append(_arrays(out)), out * 0.5)[1])],
    "forward_with_kwargs": lambda L, m, log: [m[0].register_forward_hook(
        lambda mod, args, kwargs, out: log.append([len(kwargs)] + _arrays(out)), with_kwargs=True)],
    "backward_sees_the_gradients": lambda L, m, log: [m[2].register_full_backward_hook(
        lambda mod, gin, gout: log.append(_arrays(gin) + _arrays(gout)))],
    "backward_replaces_grad_input": lambda L, m, log: [m[1].register_full_backward_hook(
        lambda mod, gin, gout: tuple(g * 3.0 for g in gin))],
    "backward_of_the_first_layer": lambda L, m, log: [m[0].register_full_backward_hook(
        lambda mod, gin, gout: log.append(_arrays(gin) + _arrays(gout)))],
    "backward_pre_scales_grad_output": lambda L, m, log: [m[2].register_full_backward_pre_hook(
        lambda mod, gout: (log.append(_arrays(gout)), tuple(g * -1.0 for g in gout))[1])],
    "hooks_on_the_whole_model_in_order": lambda L, m, log: [
        m.register_forward_hook(lambda mod, a, out: log.append(["second"])),
        m.register_forward_hook(lambda mod, a, out: log.append(["first"]), prepend=True),
        m.register_full_backward_hook(lambda mod, gin, gout: log.append(_arrays(gin)))],
}


@needs_torch
@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hooks_match_torch(name):
    theirs = _model(torch)
    ours = _model(tg)
    _copy(ours, theirs)
    results = [_run(L, model, HOOKS[name]) for L, model in ((tg, ours), (torch, theirs))]
    (log, y, xg, grads, y2), (tlog, ty, txg, tgrads, ty2) = results
    assert len(log) == len(tlog)
    for entry, tentry in zip(log, tlog):
        assert len(entry) == len(tentry)
        for a, b in zip(entry, tentry):
            if isinstance(b, str) or b is None or isinstance(b, int):
                assert a == b
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12)
    for a, b in zip([y, xg, y2, *grads], [ty, txg, ty2, *tgrads]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_removed_hook_is_not_called_and_hooks_need_callables():
    calls = []
    layer = nn.Linear(2, 2)
    handle = layer.register_forward_hook(lambda m, a, out: calls.append(1))
    layer(tg.ones(1, 2))
    handle.remove()
    handle.remove()  # twice is harmless, as PyTorch's
    layer(tg.ones(1, 2))
    assert calls == [1]
    with pytest.raises(TypeError, match="callable"):
        layer.register_forward_pre_hook(3)


def test_backward_hooks_are_skipped_without_grad_mode():
    calls = []
    layer = nn.Linear(2, 2)
    layer.register_full_backward_hook(lambda m, gin, gout: calls.append(1))
    with tg.no_grad():
        out = layer(tg.ones(1, 2, requires_grad=True))
    assert not out.requires_grad and calls == []


@needs_torch
def test_a_hook_on_a_recurrent_layer_sees_one_gradient_per_argument_and_output():
    seen = {}
    for L in (tg, torch):
        lstm = _nn(L).LSTM(3, 4)
        log = seen[L] = []
        lstm.register_forward_hook(lambda m, args, out: log.append((tuple(out[0].shape), tuple(out[1][0].shape))))
        lstm.register_full_backward_hook(lambda m, gin, gout: log.append(
            ([None if g is None else tuple(g.shape) for g in gin], [None if g is None else tuple(g.shape)
                                                                    for g in gout])))
        out, (h, c) = lstm(L.randn(5, 2, 3, requires_grad=True), (L.zeros(1, 2, 4), L.zeros(1, 2, 4)))
        (out.sum() + h.sum()).backward()
    assert seen[tg] == seen[torch]


@needs_torch
def test_get_submodule_parameter_buffer_and_assign_match_torch():
    for L in (tg, torch):
        model = _nn(L).Sequential(_nn(L).Linear(2, 3), _nn(L).Sequential(_nn(L).LayerNorm(3)))
        model.register_buffer("scale", L.ones(1))
        assert model.get_submodule("1.0") is model[1][0]
        assert model.get_parameter("1.0.weight") is model[1][0].weight
        assert model.get_buffer("scale") is model.scale
        with pytest.raises(AttributeError):
            model.get_submodule("2")
        with pytest.raises(AttributeError):
            model.get_parameter("0.gain")
        model.load_state_dict({k: v.double() for k, v in model.state_dict().items()}, assign=True)
        assert str(model[0].weight.dtype).endswith("float64")
        assert len(list(model.modules(remove_duplicate=False))) == 4


@needs_torch
def test_packed_sequences_convert_as_torchs():
    for L in (tg, torch):
        packed = L.nn.utils.rnn.pack_padded_sequence(L.randn(4, 2, 3), [4, 2]) if L is torch else \
            nn.utils.rnn.pack_padded_sequence(L.randn(4, 2, 3), [4, 2])
        assert str(packed.double().data.dtype).endswith("float64")
        assert packed.float() is packed and packed.cpu() is packed
        assert packed.to(L.float64).batch_sizes.tolist() == [2, 2, 1, 1]
        assert not packed.is_cuda and not packed.is_pinned()


@needs_torch
def test_a_backward_hook_sees_zeros_for_a_tensor_argument_that_needs_no_gradient():
    seen = {}
    for L in (tg, torch):
        class Pair(_nn(L).Module):
            def forward(self, a, b, scale):
                return a * b * scale

        log = seen[L] = []
        module = Pair()
        module.register_full_backward_hook(lambda m, gin, gout: log.append(
            [None if g is None else g.numpy().tolist() for g in gin]))
        a = L.tensor([1.0, 2.0], requires_grad=True)
        module(a, L.tensor([3.0, 4.0]), 2.0).sum().backward()
    assert seen[tg] == seen[torch]
