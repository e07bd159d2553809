"""Edges that were unclear or inconsistent (issue 11, item 9): empty batches and sequences in the
recurrent layers, float16 layers, BCE-with-logits at infinity, optimizers refusing without side
effects, and evaluation restoring the training mode."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim
from tinygrad_rnn.apps import charlm
from tinygrad_rnn.nn import functional as F

from recurrent_table import IMPLS, KINDS, LAYER_CLASSES, make_layer, unpack

LAYERS = list(LAYER_CLASSES.values())


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients(kind, impl):
    m = make_layer(kind, 3, 4, impl, num_layers=2, bidirectional=True)
    x = tg.randn(5, 0, 3, dtype=np.float64, requires_grad=True)
    out, (h, *_) = unpack(kind, m(x, lengths=np.zeros(0, dtype=np.int64)))
    assert out.shape == (5, 0, 8) and h.shape == (4, 0, 4)
    (out.sum() + h.sum()).backward()
    assert x.grad.shape == (5, 0, 3)
    for p in m.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_sequence_is_refused_by_both_impls(kind, impl):
    m = make_layer(kind, 3, 4, impl)
    for shape in [(0, 2, 3), (0, 3)]:
        with pytest.raises(ValueError, match=r"at least one time step, got input of shape \(0,"):
            m(tg.zeros(*shape, dtype=np.float64))


@pytest.mark.parametrize("cls", LAYERS)
def test_float16_layers_are_refused_when_built(cls):
    with pytest.raises(TypeError, match=f"{cls.__name__}: dtype must be float32 or float64, got float16"):
        cls(3, 4, dtype=np.float16)


def test_bce_with_logits_at_infinity_is_pytorchs():
    inf = np.inf
    x = np.array([inf, inf, -inf, 0.0, 1e4, -1e4, 3.0])
    y = np.array([0.0, 0.5, 1.0, 0.3, 0.0, 1.0, 0.25])
    loss = F.binary_cross_entropy_with_logits(tg.tensor(x), tg.tensor(y), reduction="none").numpy()
    assert loss[0] == inf and loss[1] == inf
    finite = np.isfinite(x)
    np.testing.assert_allclose(loss[finite], np.logaddexp(0, x[finite]) - x[finite] * y[finite], rtol=1e-12)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(y), reduction="none")
    np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12)  # nan where PyTorch has nan


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.AdamW(ps, lr=0.1, amsgrad=True),
    lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr=0.1),
    lambda ps: optim.Adadelta(ps),
    lambda ps: optim.NAdam(ps, lr=0.1),
    lambda ps: optim.RAdam(ps, lr=0.1),
    lambda ps: optim.Rprop(ps, lr=0.1),
]


def _snapshot(opt, params):
    state = {id(p): {k: np.copy(v) for k, v in s.items()} for p, s in opt.state.items()}
    return [p.detach().numpy().copy() for p in params], state


def _same(a, b):
    (pa, sa), (pb, sb) = a, b
    assert all(np.array_equal(x, y) for x, y in zip(pa, pb))
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].keys() == sb[k].keys() and all(np.array_equal(sa[k][n], sb[k][n]) for n in sa[k])


def _trained(make):
    params = [tg.randn(3, requires_grad=True), tg.randn(2, requires_grad=True)]
    opt = make(params)
    for p in params:
        p.grad = tg.ones(p.shape)
    opt.step()
    return params, opt


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_step_that_is_refused_changes_nothing(make):
    """The second parameter's gradient is complex: the first must not have been updated already."""
    params, opt = _trained(make)
    fresh = tg.randn(4, requires_grad=True)
    opt.add_param_group({"params": [fresh]})
    before = _snapshot(opt, params + [fresh])
    fresh.grad = tg.ones(4)
    params[1].grad = tg.tensor(np.array([1 + 1j, 2.0]))
    with pytest.raises(TypeError, match="complex128; expected a real floating-point gradient"):
        opt.step()
    _same(before, _snapshot(opt, params + [fresh]))
    params[1].grad = tg.ones(2)
    opt.param_groups[1]["lr"] = -1.0
    with pytest.raises(ValueError, match="lr.*parameter group 1"):
        opt.step()
    _same(before, _snapshot(opt, params + [fresh]))


def test_adam_switched_to_amsgrad_midway_is_refused_before_any_update():
    params, opt = _trained(OPTIMIZERS[1])
    before = _snapshot(opt, params)
    opt.param_groups[0]["amsgrad"] = True
    with pytest.raises(ValueError, match="lacks 'max_exp_avg_sq'"):
        opt.step()
    _same(before, _snapshot(opt, params))


@pytest.mark.parametrize("make", OPTIMIZERS[1:])
def test_load_state_dict_refuses_a_state_missing_an_entry(make):
    params, opt = _trained(make)
    saved = opt.state_dict()
    for name in saved["state"][1]:
        broken = opt.state_dict()
        del broken["state"][1][name]
        target_params, target = _trained(make)
        before = _snapshot(target, target_params)
        with pytest.raises(ValueError, match=f"loaded state of parameter 1 .*lacks '{name}'"):
            target.load_state_dict(broken)
        _same(before, _snapshot(target, target_params))
    target.load_state_dict(saved)


class _Failing(charlm.CharLM):
    def forward(self, ids, state=None):
        raise ArithmeticError("boom")


def test_evaluate_and_generate_restore_training_mode_when_they_raise():
    model = _Failing(5, 4, embedding_dim=3)
    vocab = tg.data.CharVocab("abcde")
    with pytest.raises(ArithmeticError):
        charlm.evaluate(model, np.arange(5).repeat(4))
    assert model.training
    with pytest.raises(ArithmeticError):
        charlm.generate(model, vocab, 3, prime="ab")
    assert model.training and all(m.training for m in model.modules())


@pytest.mark.parametrize("fn", [tg.sigmoid, tg.tanh, tg.exp, tg.log, tg.sqrt, lambda z: z.mean(), lambda z: z.var(),
                                lambda z: z.norm(), lambda z: z.logsumexp(dim=0)])
def test_complex_input_is_refused_not_silently_made_real(fn):
    z = tg.tensor(np.array([1 + 2j, 0.5 - 1j]))
    with pytest.raises(TypeError, match="complex"):
        fn(z)
