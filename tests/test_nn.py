"""Tests for tinygrad_rnn.nn: Module registration and state, layers (with gradchecks), init, utils."""
import copy
import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F
from tinygrad_rnn.nn import init
from tinygrad_rnn.nn.utils import (clip_grad_norm_, clip_grad_value_, parameters_to_vector,
                                   vector_to_parameters)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(2, dtype=np.float32))
        self.fc = nn.Linear(2, 2)
        self.register_buffer("running", tg.zeros(2))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 2)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1, bias=False))
        self.gain = nn.Parameter(np.ones(1, dtype=np.float32))

    def forward(self, idx):
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(x) * self.gain


NET_PARAMS = ["gain", "embed.weight", "blocks.0.scale", "blocks.0.fc.weight", "blocks.0.fc.bias",
              "blocks.1.scale", "blocks.1.fc.weight", "blocks.1.fc.bias", "head.0.weight", "head.0.bias",
              "head.2.weight"]


def snapshot(module):
    return {k: v._data.copy() for k, v in module.state_dict().items()}


# ---------------------------------------------------------------- registration and traversal

def test_named_parameters_follow_pytorch_order_with_dotted_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == ["blocks.0.running", "blocks.0.scratch",
                                                   "blocks.1.running", "blocks.1.scratch"]
    assert [n for n, _ in net.named_children()] == ["embed", "blocks", "head"]
    assert [n for n, _ in net.named_modules()] == [
        "", "embed", "blocks", "blocks.0", "blocks.0.fc", "blocks.1", "blocks.1.fc",
        "head", "head.0", "head.1", "head.2"]
    assert len(list(net.parameters(recurse=False))) == 1


def test_state_dict_holds_params_then_persistent_buffers_per_module():
    keys = list(Net().state_dict())
    assert keys == ["gain", "embed.weight", "blocks.0.scale", "blocks.0.running", "blocks.0.fc.weight",
                    "blocks.0.fc.bias", "blocks.1.scale", "blocks.1.running", "blocks.1.fc.weight",
                    "blocks.1.fc.bias", "head.0.weight", "head.0.bias", "head.2.weight"]


def test_shared_parameters_are_listed_once_but_saved_under_both_names():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.Tanh(), a)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.modules())) == 3


def test_attribute_assignment_rules():
    m = nn.Linear(2, 3)
    first = list(m.state_dict())
    m.weight = nn.Parameter(np.zeros((3, 2), dtype=np.float32))
    assert list(m.state_dict()) == first  # re-assignment keeps the registration order
    with pytest.raises(TypeError, match="weight"):
        m.weight = tg.zeros(3, 2)
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    m.extra = nn.Tanh()
    assert "extra" in dict(m.named_children())
    del m.extra
    assert "extra" not in dict(m.named_children())
    m.note = 3
    assert m.note == 3 and "note" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing
    with pytest.raises(ValueError, match="forward"):
        m.register_parameter("forward", nn.Parameter(np.zeros(1)))
    with pytest.raises(ValueError, match="\\."):
        m.register_buffer("a.b", tg.zeros(1))
    with pytest.raises(TypeError, match="buffer"):
        m.register_buffer("b", np.zeros(1))


def test_assigning_before_init_is_refused():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_parameter_copies_data_and_refuses_integer_data():
    src = tg.zeros(3)
    p = nn.Parameter(src)
    p._data[0] = 1
    assert src._data[0] == 0 and p.requires_grad and p.dtype == np.float32
    assert nn.Parameter([1.0, 2.0], requires_grad=False).requires_grad is False
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(np.arange(3))


def test_module_list_behaves_like_a_list():
    layers = nn.ModuleList([nn.Linear(1, 1)])
    layers.append(nn.Tanh()).extend([nn.ReLU(), nn.Sigmoid()])
    layers.insert(1, nn.Identity())
    assert [type(m).__name__ for m in layers] == ["Linear", "Identity", "Tanh", "ReLU", "Sigmoid"]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Sigmoid)
    assert [type(m).__name__ for m in layers[1:3]] == ["Identity", "Tanh"]
    layers[1] = nn.Flatten()
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert isinstance(layers[0], nn.Flatten)
    with pytest.raises(IndexError):
        layers[4]
    with pytest.raises(TypeError):
        layers.append(3)


def test_sequential_chains_indexes_and_slices():
    tg.manual_seed(0)
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tg.randn(5, 3)
    np.testing.assert_allclose(seq(x)._data, seq[2](seq[1](seq[0](x)))._data)
    assert isinstance(seq[-1], nn.Linear) and len(seq) == 3
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(dict(tail.named_children())) == ["1", "2"]
    named = nn.Sequential({"fc": nn.Linear(3, 2), "act": nn.Tanh()})
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    seq.append(nn.Identity())
    assert len(seq) == 4


def test_repr_is_pytorch_like():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Dropout(0.25), nn.Tanh()))
    assert repr(seq) == ("Sequential(\n"
                         "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                         "  (1): Sequential(\n"
                         "    (0): Dropout(p=0.25, inplace=False)\n"
                         "    (1): Tanh()\n"
                         "  )\n"
                         ")")
    assert repr(nn.Embedding(4, 2, padding_idx=-1)) == "Embedding(4, 2, padding_idx=3)"
    assert repr(nn.LayerNorm(8)) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(nn.LayerNorm(8, elementwise_affine=False)) == (
        "LayerNorm((8,), eps=1e-05, elementwise_affine=False, bias=False)")


def test_deepcopy_gives_independent_parameters():
    net = Net()
    clone = copy.deepcopy(net)
    clone.gain._data[...] = 5
    assert net.gain._data[0] == 1
    assert [n for n, _ in clone.named_parameters()] == NET_PARAMS


def test_apply_visits_children_then_self():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen[0] == "Embedding" and seen[-1] == "Net" and seen.count("Linear") == 4


def test_forward_not_defined_raises():
    with pytest.raises(NotImplementedError, match="ModuleList"):
        nn.ModuleList()(1)


# ---------------------------------------------------------------- state dicts

def test_state_dict_round_trip_reproduces_outputs():
    tg.manual_seed(0)
    a = Net()
    tg.manual_seed(1)
    b = Net()
    idx = tg.tensor([[0, 1], [4, 2]])
    assert not np.allclose(a(idx)._data, b(idx)._data)
    state = a.state_dict()
    assert all(not v.requires_grad and not isinstance(v, nn.Parameter) for v in state.values())
    assert b.load_state_dict(state) == ([], [])
    np.testing.assert_array_equal(a(idx)._data, b(idx)._data)


def test_load_state_dict_accepts_arrays_and_casts_to_parameter_dtype():
    m = nn.Linear(2, 3)
    w = np.arange(6, dtype=np.float64).reshape(3, 2)
    weight = m.weight
    m.load_state_dict({"weight": w, "bias": tg.tensor([1, 2, 3])})
    assert m.weight is weight and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight._data, w)
    np.testing.assert_array_equal(m.bias._data, [1, 2, 3])


def test_load_state_dict_lists_every_offending_key_and_changes_nothing():
    net = Net()
    before = snapshot(net)
    state = net.state_dict()
    del state["gain"], state["head.2.weight"]
    state["bogus"] = tg.zeros(1)
    state["blocks.0.fc.weight"] = tg.zeros(3, 2)
    state["embed.weight"] = np.zeros((4, 2), dtype=np.float32)
    state["blocks.1.scale"] = tg.full((2,), 7.0)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    msg = str(info.value)
    for key in ('"gain"', '"head.2.weight"', '"bogus"'):
        assert key in msg
    assert "size mismatch for blocks.0.fc.weight" in msg and "(3, 2)" in msg and "(2, 2)" in msg
    assert "size mismatch for embed.weight" in msg and "(4, 2)" in msg and "(5, 2)" in msg
    after = snapshot(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_non_strict_reports_keys_but_still_refuses_shapes():
    m = nn.Linear(2, 3)
    result = m.load_state_dict({"weight": np.ones((3, 2)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(m.weight._data, 1)
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        m.load_state_dict({"weight": np.ones((2, 2))}, strict=False)


def test_load_state_dict_refuses_non_arrays():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="weight \\(list\\)"):
        m.load_state_dict({"weight": [[0.0] * 2] * 3, "bias": np.zeros(3)})
    with pytest.raises(TypeError, match="dict"):
        m.load_state_dict([("weight", np.zeros((3, 2)))])


# ---------------------------------------------------------------- modes, grads, dtype

def test_train_eval_propagate_and_switch_dropout():
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = tg.randn(3, 4)
    np.testing.assert_array_equal(net(x)._data, net[0](x)._data)
    net.train()
    assert all(m.training for m in net.modules())
    assert not np.array_equal(net(x)._data, net[0](x)._data)
    with pytest.raises(TypeError, match="bool"):
        net.train("no")


def test_to_double_keeps_parameter_identity_and_converts_buffers_and_grads():
    net = Net()
    params = list(net.parameters())
    net(tg.tensor([1, 2])).sum().backward()
    assert net.double() is net
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    assert all(b.dtype == np.float64 for b in net.buffers())
    assert net(tg.tensor([1, 2])).dtype == np.float64
    assert net.float().gain.dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        net.to(np.int64)


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(tg.randn(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad._data.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_freezes_parameters():
    m = nn.Linear(2, 2).requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


# ---------------------------------------------------------------- layers

def test_layer_dtype_argument():
    assert nn.Linear(2, 3, dtype=np.float64).weight.dtype == np.float64
    assert nn.Embedding(3, 2, dtype=tg.float64).weight.dtype == np.float64
    assert nn.LayerNorm(3).weight.dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        nn.Linear(2, 3, dtype=np.int32)


def test_linear_checks_input_size_and_dtype():
    m = nn.Linear(32, 4)
    with pytest.raises(ValueError, match="size 32 in its last dim, got shape \\(2, 16\\)"):
        m(tg.zeros(2, 16))
    with pytest.raises(TypeError, match="float64 differs from weight dtype float32"):
        m(tg.zeros(2, 32, dtype=np.float64))
    assert m(tg.zeros(32)).shape == (4,)
    assert m(tg.zeros(5, 7, 32)).shape == (5, 7, 4)


def test_linear_init_bounds_and_seed():
    tg.manual_seed(3)
    m = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    assert np.abs(m.weight._data).max() <= bound and np.abs(m.bias._data).max() <= bound
    assert np.abs(m.weight._data).max() > 0.9 * bound
    assert np.std(m.weight._data) == pytest.approx(bound / math.sqrt(3), rel=0.05)
    tg.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(100, 50).weight._data, m.weight._data)


def test_linear_gradcheck():
    tg.manual_seed(0)
    m = nn.Linear(3, 2, dtype=np.float64)
    x = tg.randn(4, 3, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: m(x), [x, m.weight, m.bias])
    x3 = tg.randn(2, 2, 3, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: m(x), [x3, m.weight, m.bias])


def test_linear_tanh_gradgradcheck():
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 2, dtype=np.float64), nn.Tanh())
    x = tg.randn(2, 3, dtype=np.float64, requires_grad=True)
    assert tg.gradgradcheck(lambda x, w, b: m(x), [x, m[0].weight, m[0].bias])


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    tg.manual_seed(0)
    e = nn.Embedding(6, 3, padding_idx=2, dtype=np.float64)
    assert not e.weight._data[2].any() and e.weight._data[0].any()
    idx = tg.tensor([[1, 2, 1], [2, 5, 1]])
    assert e(idx).shape == (2, 3, 3)
    out = e(idx)
    (out * tg.randn(*out.shape, dtype=np.float64)).sum().backward()
    assert not e.weight.grad._data[2].any() and not e.weight.grad._data[0].any()
    # the padding row's gradient is zero by design, so finite differences only agree off it
    assert tg.gradcheck(lambda w: e(tg.tensor([[1, 4, 1], [5, 5, 1]])), [e.weight])
    # the backward (which drops the padding row) is itself differentiated correctly
    assert tg.gradgradcheck(lambda w: e(idx) ** 2, [e.weight])


def test_embedding_gradcheck_with_repeated_indices():
    tg.manual_seed(0)
    e = nn.Embedding(4, 2, dtype=np.float64)
    idx = tg.tensor([[0, 3, 3], [3, 1, 0]])
    assert tg.gradcheck(lambda w: e(idx).tanh(), [e.weight])
    assert tg.gradgradcheck(lambda w: e(idx).tanh(), [e.weight])


def test_embedding_from_pretrained_and_errors():
    w = np.arange(6.0).reshape(3, 2)
    e = nn.Embedding.from_pretrained(w)
    assert e.weight.dtype == np.float64 and not e.weight.requires_grad
    np.testing.assert_array_equal(e(tg.tensor([2]))._data, [[4.0, 5.0]])
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(IndexError, match="out of range"):
        nn.Embedding(3, 2)(tg.tensor([3]))


def test_layer_norm_matches_formula():
    tg.manual_seed(0)
    ln = nn.LayerNorm((2, 3), dtype=np.float64)
    ln.weight._data[...] = np.arange(6).reshape(2, 3)
    ln.bias._data[...] = 0.5
    x = tg.randn(4, 2, 3, dtype=np.float64)
    a = x._data
    mu = a.mean(axis=(1, 2), keepdims=True)
    expected = (a - mu) / np.sqrt(a.var(axis=(1, 2), keepdims=True) + 1e-5) * ln.weight._data + 0.5
    np.testing.assert_allclose(ln(x)._data, expected, rtol=1e-12)
    plain = nn.LayerNorm(3, elementwise_affine=False)
    assert list(plain.parameters()) == [] and plain(tg.randn(2, 3)).shape == (2, 3)
    assert [n for n, _ in nn.LayerNorm(3, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="trailing shape \\(2, 3\\)"):
        ln(tg.randn(4, 3, 2, dtype=np.float64))
    with pytest.raises(TypeError, match="float32 differs from weight dtype float64"):
        ln(tg.randn(4, 2, 3))


def test_layer_norm_gradcheck_and_gradgradcheck():
    tg.manual_seed(0)
    ln = nn.LayerNorm(4, dtype=np.float64)
    init.normal_(ln.weight)
    init.normal_(ln.bias)
    x = tg.randn(3, 4, dtype=np.float64, requires_grad=True)
    assert tg.gradcheck(lambda x, w, b: ln(x), [x, ln.weight, ln.bias])
    assert tg.gradgradcheck(lambda x, w, b: ln(x), [x, ln.weight, ln.bias])


def test_flatten_and_activations():
    x = tg.randn(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    np.testing.assert_allclose(nn.Tanh()(x)._data, np.tanh(x._data), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x)._data, 1 / (1 + np.exp(-x._data)), rtol=1e-6)
    np.testing.assert_array_equal(nn.ReLU()(x)._data, np.maximum(x._data, 0))
    assert nn.Identity(3, foo=1)(x) is x
    with pytest.raises(ValueError, match="p must be"):
        nn.Dropout(1.5)


def test_functional_names():
    tg.manual_seed(0)
    x = tg.randn(4, 3)
    np.testing.assert_array_equal(F.one_hot(tg.tensor([0, 2, 1]))._data, np.eye(3)[[0, 2, 1]])
    assert F.one_hot(tg.tensor([[1]]), num_classes=4).dtype == np.int64
    assert F.one_hot(tg.tensor([[1]]), num_classes=4).shape == (1, 1, 4)
    with pytest.raises(ValueError, match="\\[0, 2\\)"):
        F.one_hot(tg.tensor([2]), num_classes=2)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(x)
    np.testing.assert_allclose(F.linear(x, tg.ones(2, 3))._data, np.repeat(x._data.sum(1, keepdims=True), 2, 1),
                               rtol=1e-6)
    assert F.dropout(x, p=0.5, training=False) is x
    for name in ("relu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
                 "l1_loss", "binary_cross_entropy_with_logits", "embedding", "dropout", "layer_norm"):
        assert callable(getattr(F, name))


# ---------------------------------------------------------------- init

def test_init_functions_fill_in_place_and_return_the_tensor():
    tg.manual_seed(0)
    p = nn.Parameter(np.zeros((200, 300), dtype=np.float32))
    assert init.uniform_(p, -2, 3) is p and p.dtype == np.float32
    assert p._data.min() >= -2 and p._data.max() <= 3 and p._data.mean() == pytest.approx(0.5, abs=0.02)
    init.normal_(p, 1.0, 2.0)
    assert p._data.mean() == pytest.approx(1.0, abs=0.05) and p._data.std() == pytest.approx(2.0, rel=0.02)
    assert init.constant_(p, 0.25)._data.min() == 0.25 and init.zeros_(p)._data.max() == 0
    assert init.ones_(p)._data.min() == 1
    assert p.grad is None and p.requires_grad


def test_xavier_and_kaiming_statistics():
    tg.manual_seed(0)
    t = tg.zeros(400, 600)
    xavier_std = math.sqrt(2 / 1000)
    assert init.xavier_uniform_(t)._data.std() == pytest.approx(xavier_std, rel=0.02)
    assert np.abs(t._data).max() <= math.sqrt(3) * xavier_std + 1e-7
    assert init.xavier_normal_(t, gain=2)._data.std() == pytest.approx(2 * xavier_std, rel=0.02)
    assert init.kaiming_uniform_(t)._data.std() == pytest.approx(math.sqrt(2 / 1.0001) / math.sqrt(600), rel=0.02)
    assert init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")._data.std() == pytest.approx(
        math.sqrt(2 / 400), rel=0.02)
    conv = tg.zeros(8, 4, 3, 3)
    assert init._calculate_fan_in_and_fan_out(conv) == (36, 72)
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_uniform_(tg.zeros(3))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(t, mode="fan")


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="swish"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(5, 5), (12, 3), (3, 12), (4 * 6, 6), (4, 2, 3)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    tg.manual_seed(0)
    t = init.orthogonal_(tg.zeros(*shape, dtype=np.float64), gain=1.0)
    q = t._data.reshape(shape[0], -1)
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    scaled = init.orthogonal_(tg.zeros(*shape, dtype=np.float64), gain=2.0)._data.reshape(shape[0], -1)
    np.testing.assert_allclose(np.linalg.norm(scaled, axis=0 if shape[0] >= q.shape[1] else 1), 2.0)


def test_orthogonal_is_random_and_seeded():
    tg.manual_seed(1)
    a = init.orthogonal_(tg.zeros(4, 4))._data.copy()
    b = init.orthogonal_(tg.zeros(4, 4))._data
    tg.manual_seed(1)
    np.testing.assert_array_equal(init.orthogonal_(tg.zeros(4, 4))._data, a)
    assert not np.allclose(a, b)


def test_eye():
    np.testing.assert_array_equal(init.eye_(tg.zeros(3, 3))._data, np.eye(3))
    np.testing.assert_array_equal(init.eye_(tg.zeros(2, 4))._data, np.eye(2, 4))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(tg.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="Tensor"):
        init.eye_(np.zeros((2, 2)))


# ---------------------------------------------------------------- utils

def with_grads(*grads):
    params = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g)))
        p.grad = None if g is None else tg.tensor(np.asarray(g, dtype=np.float64))
        params.append(p)
    return params


def test_clip_grad_norm_two_norm():
    params = with_grads([3.0, 0.0], [[4.0]], None)
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total.ndim == 0 and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(params[0].grad._data, [3 / (5 + 1e-6), 0])
    np.testing.assert_allclose(params[1].grad._data, [[4 / (5 + 1e-6)]])
    assert params[2].grad is None
    again = clip_grad_norm_(params, max_norm=10.0)
    assert again.item() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(params[0].grad._data, [3 / (5 + 1e-6), 0])


def test_clip_grad_norm_inf_and_p_norms():
    params = with_grads([3.0, -7.0], [2.0])
    assert clip_grad_norm_(params, 3.5, norm_type="inf").item() == 7.0
    np.testing.assert_allclose(params[0].grad._data, [1.5, -3.5], rtol=1e-6)
    params = with_grads([1.0, -2.0], [2.0])
    assert clip_grad_norm_(params, 100, norm_type=1).item() == pytest.approx(5.0)
    assert clip_grad_norm_(with_grads([1.0]), 1.0, norm_type=3).item() == pytest.approx(1.0)


def test_clip_grad_norm_single_tensor_empty_and_nonfinite():
    (p,) = with_grads([6.0, 8.0])
    assert clip_grad_norm_(p, 5.0).item() == pytest.approx(10.0)
    np.testing.assert_allclose(p.grad._data, [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm_(with_grads(None), 1.0).item() == 0.0
    bad = with_grads([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_(bad, 1.0).item())
    assert np.isnan(bad[0].grad._data[0])  # scaled by 1/inf = 0, as PyTorch
    unknown = with_grads([np.nan, 1.0], [10.0])
    assert np.isnan(clip_grad_norm_(unknown, 1.0).item())
    assert all(np.isnan(p.grad._data).all() for p in unknown)  # a nan norm is no licence to leave them unclipped


def test_clip_grad_norm_with_grads_shared_by_the_engine():
    # (x + y) hands the same gradient tensor to x and y; each must be scaled exactly once
    x = nn.Parameter(np.full(2, 1.0))
    y = nn.Parameter(np.full(2, 2.0))
    (x + y).sum().backward()
    total = clip_grad_norm_([x, y, x], max_norm=1.0)
    assert total.item() == pytest.approx(2.0)
    np.testing.assert_allclose(x.grad._data, 0.5, rtol=1e-5)
    np.testing.assert_allclose(y.grad._data, 0.5, rtol=1e-5)


def test_clip_grad_value():
    params = with_grads([-3.0, 0.5, 2.0], None)
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad._data, [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(params, -1)
    clip_grad_value_(params, tg.tensor(0.25))  # a 0-d Tensor, as PyTorch takes
    np.testing.assert_array_equal(params[0].grad._data, [-0.25, 0.25, 0.25])


def test_parameters_to_vector_round_trip():
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    vec = parameters_to_vector(net.parameters())
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    np.testing.assert_array_equal(vec._data[:12], net[0].weight._data.ravel())
    before = snapshot(net)
    vector_to_parameters(vec * 2, net.parameters())
    assert all(np.allclose(v._data, 2 * before[k]) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match="26 elements"):
        vector_to_parameters(tg.zeros(5), net.parameters())


# ---------------------------------------------------------------- end to end

def test_mlp_learns_two_moons_with_plain_gradient_descent():
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    t = rng.uniform(0, np.pi, 200)
    label = rng.integers(0, 2, 200)
    xy = np.stack([np.cos(t) + label, np.sin(t) * (1 - 2 * label) + 0.5 * label], axis=1)
    x = tg.tensor(xy + rng.normal(0, 0.1, xy.shape), dtype=np.float32)
    y = tg.tensor(label)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.LayerNorm(32), nn.Linear(32, 2))
    losses = []
    for _ in range(150):
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 5.0)
        with tg.no_grad():
            for p in model.parameters():
                p._data -= 0.5 * p.grad._data
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (model.eval()(x)._data.argmax(1) == label).mean()
    assert accuracy > 0.9


@pytest.mark.parametrize("make", [lambda: nn.Linear(3, 4, device="cpu"), lambda: nn.Embedding(3, 4, device="cpu"),
                                  lambda: nn.LayerNorm(3, device="cpu"), lambda: nn.LSTMCell(3, 4, device="cpu"),
                                  lambda: nn.GRUCell(3, 4, device="cpu"), lambda: nn.RNNCell(3, 4, device="cpu"),
                                  lambda: nn.Linear(3, 4, True, "cpu", "float64")])
def test_layers_take_pytorchs_device_argument(make):
    assert make().parameters()
    with pytest.raises(RuntimeError, match="CPU library"):
        nn.Linear(3, 4, device="cuda")


def test_dropout_inplace_writes_into_its_input():
    tg.manual_seed(0)
    x = tg.ones(200) * 1.0
    out = nn.Dropout(0.5, inplace=True)(x)
    assert out is x and 0 < int((x.numpy() == 0).sum()) < 200
    np.testing.assert_array_equal(nn.Dropout(0.5, inplace=True).eval()(x).numpy(), x.numpy())


def _kinds(container):
    return [(name, type(m).__name__) for name, m in container.named_children()]


@pytest.mark.parametrize("kind", ["Sequential", "ModuleList"])
def test_containers_edit_and_renumber_as_pytorchs(kind):
    make = (lambda *ms: nn.Sequential(*ms)) if kind == "Sequential" else (lambda *ms: nn.ModuleList(ms))
    c = make(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 3))
    c[1] = nn.Sigmoid()
    assert _kinds(c) == [("0", "Linear"), ("1", "Sigmoid"), ("2", "Linear")]
    del c[0]
    assert _kinds(c) == [("0", "Sigmoid"), ("1", "Linear")]  # renumbered
    c.insert(1, nn.ReLU())
    assert isinstance(c.pop(0), nn.Sigmoid) and _kinds(c) == [("0", "ReLU"), ("1", "Linear")]
    both = c + make(nn.Tanh())
    assert type(both) is type(c) and _kinds(both) == [("0", "ReLU"), ("1", "Linear"), ("2", "Tanh")]
    c += make(nn.Tanh())
    assert _kinds(c) == _kinds(both) and len(list(c.parameters())) == 2
    del c[0:2]
    assert _kinds(c) == [("0", "Tanh")]


@pytest.mark.parametrize("register", [lambda m: m.register_buffer("weight", tg.zeros(2)),
                                      lambda m: m.add_module("bias", nn.Tanh()),
                                      lambda m: m.register_parameter("in_features", nn.Parameter(np.zeros(1)))])
def test_registering_a_name_the_module_already_has_raises_keyerror_and_keeps_it(register):
    m = nn.Linear(2, 2)
    before = [name for name, _ in m.named_parameters()]
    with pytest.raises(KeyError, match="already exists"):
        register(m)
    assert [name for name, _ in m.named_parameters()] == before and m.in_features == 2
    m.weight = nn.Parameter(np.zeros((2, 2)))  # assignment still replaces, as in PyTorch
    m.scale = nn.Parameter(np.ones(1))
    m.scale = nn.Tanh()
    assert "scale" not in dict(m.named_parameters()) and isinstance(m.scale, nn.Tanh)
    for bad in ("a.b", ""):
        with pytest.raises(KeyError):
            m.register_buffer(bad, tg.zeros(1))
