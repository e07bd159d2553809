"""to_torch / from_torch: every supported module gives PyTorch's outputs (1e-6 in float32, 1e-12 in
float64) with the converted weights, round trips return the same bits, and what has no equivalent
raises a TypeError naming the part."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.apps.charlm import CharLM
from tinygrad_rnn.interop import from_torch, to_torch


torch = pytest.importorskip("torch")

TOL = {np.float32: 1e-6, np.float64: 1e-12}
T, B = 5, 3


def seq(*shape):
    return lambda rng, dt: [rng.standard_normal(shape).astype(dt)]


def ids(*shape, high=11):
    return lambda rng, dt: [rng.integers(0, high, shape)]


def with_state(x_shape, *state_shapes):
    def make(rng, dt):
        states = tuple(rng.standard_normal(s).astype(dt) for s in state_shapes)
        return [rng.standard_normal(x_shape).astype(dt), states if len(states) > 1 else states[0]]
    return make


CASES = {  # name -> (our module given a dtype, its inputs given an rng and the dtype)
    "linear": (lambda dt: nn.Linear(4, 6, dtype=dt), seq(B, 4)),
    "linear_no_bias": (lambda dt: nn.Linear(4, 6, bias=False, dtype=dt), seq(T, B, 4)),
    "embedding_padding": (lambda dt: nn.Embedding(11, 4, padding_idx=2, dtype=dt), ids(T, B)),
    "layernorm": (lambda dt: nn.LayerNorm(4, dtype=dt), seq(T, B, 4)),
    "layernorm_2d_no_bias": (lambda dt: nn.LayerNorm((3, 4), eps=1e-3, bias=False, dtype=dt), seq(B, 3, 4)),
    "layernorm_no_affine": (lambda dt: nn.LayerNorm(4, elementwise_affine=False, dtype=dt), seq(B, 4)),
    "sequential": (lambda dt: nn.Sequential(nn.Linear(4, 5, dtype=dt), nn.Tanh(), nn.Dropout(0.3), nn.ReLU(),
                                            nn.Linear(5, 2, dtype=dt), nn.Sigmoid(), nn.Identity(), nn.Flatten()),
                   seq(B, 4)),
    "embedding_then_layers": (lambda dt: nn.Sequential(nn.Embedding(11, 4, dtype=dt), nn.LayerNorm(4, dtype=dt)),
                              ids(T, B)),
    "rnn_relu_2layer_bidir": (lambda dt: nn.RNN(4, 5, 2, nonlinearity="relu", bidirectional=True, dtype=dt),
                              seq(T, B, 4)),
    "rnn_tanh_h0": (lambda dt: nn.RNN(4, 5, dtype=dt), with_state((T, B, 4), (1, B, 5))),
    "lstm": (lambda dt: nn.LSTM(4, 5, dtype=dt), seq(T, B, 4)),
    "lstm_3layer_bidir_states": (lambda dt: nn.LSTM(4, 5, 3, bidirectional=True, dropout=0.2, dtype=dt),
                                 with_state((T, B, 4), (6, B, 5), (6, B, 5))),
    "lstm_batch_first_no_bias": (lambda dt: nn.LSTM(4, 5, 2, bias=False, batch_first=True, dtype=dt),
                                 seq(B, T, 4)),
    "lstm_unbatched": (lambda dt: nn.LSTM(4, 5, dtype=dt), seq(T, 4)),
    "gru_bidir_h0": (lambda dt: nn.GRU(4, 5, bidirectional=True, dtype=dt), with_state((T, B, 4), (2, B, 5))),
    "gru_unrolled_batch_first": (lambda dt: nn.GRU(4, 5, 2, batch_first=True, impl="unrolled", dtype=dt),
                                 seq(B, T, 4)),
    "rnncell": (lambda dt: nn.RNNCell(4, 5, dtype=dt), with_state((B, 4), (B, 5))),
    "rnncell_relu_no_bias": (lambda dt: nn.RNNCell(4, 5, bias=False, nonlinearity="relu", dtype=dt), seq(B, 4)),
    "lstmcell": (lambda dt: nn.LSTMCell(4, 5, dtype=dt), with_state((B, 4), (B, 5), (B, 5))),
    "grucell": (lambda dt: nn.GRUCell(4, 5, dtype=dt), with_state((B, 4), (B, 5))),
    "charlm_lstm": (lambda dt: CharLM(11, 6, 2, "lstm", embedding_dim=4, dtype=dt), ids(T, B)),
    "charlm_gru_one_hot": (lambda dt: CharLM(11, 6, 1, "gru", embedding_dim=0, dtype=dt), ids(T, B)),
    "charlm_rnn": (lambda dt: CharLM(11, 6, 1, "rnn", dtype=dt), ids(T, B)),
}


def ours_in(a):
    return tuple(ours_in(x) for x in a) if isinstance(a, tuple) else tg.tensor(a)


def torch_in(a):
    return tuple(torch_in(x) for x in a) if isinstance(a, tuple) else torch.from_numpy(a.copy())


def flat(out):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in flat(o)]
    return [out.detach().numpy()]


def state_arrays(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def assert_same_bits(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def compare_outputs(ours, theirs, make_inputs, dtype):
    inputs = make_inputs(np.random.default_rng(1), dtype)
    ours.eval(), theirs.eval()
    with tg.no_grad(), torch.no_grad():
        a, b = flat(ours(*map(ours_in, inputs))), flat(theirs(*map(torch_in, inputs)))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_to_torch_gives_the_same_outputs_and_round_trips_bit_for_bit(case, dtype):
    factory, make_inputs = CASES[case]
    tg.manual_seed(3)
    ours = factory(dtype)
    theirs = to_torch(ours)
    assert {k: tuple(v.shape) for k, v in theirs.state_dict().items()} == \
        {k: v.shape for k, v in state_arrays(ours).items()}
    compare_outputs(ours, theirs, make_inputs, dtype)
    back = from_torch(theirs, impl=getattr(ours, "impl", "fused"))
    assert type(back) is type(ours) and repr(back) == repr(ours)
    assert_same_bits(state_arrays(back), state_arrays(ours))


TORCH_CASES = {  # modules built by PyTorch, brought here
    "lstm_bidir_2layer": (lambda dt: torch.nn.LSTM(4, 5, 2, bidirectional=True, dtype=dt), seq(T, B, 4)),
    "gru_batch_first": (lambda dt: torch.nn.GRU(4, 5, batch_first=True, bias=False, dtype=dt), seq(B, T, 4)),
    "rnn_relu": (lambda dt: torch.nn.RNN(4, 5, nonlinearity="relu", dtype=dt), seq(T, B, 4)),
    "sequential": (lambda dt: torch.nn.Sequential(torch.nn.Embedding(11, 4, dtype=dt), torch.nn.LayerNorm(4, dtype=dt),
                                                  torch.nn.Linear(4, 3, dtype=dt), torch.nn.ReLU()), ids(T, B)),
    "modulelist_of_cells": (lambda dt: torch.nn.ModuleList([torch.nn.LSTMCell(4, 5, dtype=dt)]),
                            with_state((B, 4), (B, 5), (B, 5))),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_from_torch_gives_the_same_outputs_and_round_trips_bit_for_bit(case, dtype):
    factory, make_inputs = TORCH_CASES[case]
    torch.manual_seed(0)
    theirs = factory(getattr(torch, np.dtype(dtype).name))
    ours = from_torch(theirs)
    if isinstance(theirs, torch.nn.ModuleList):  # a list has no forward: compare its element
        compare_outputs(ours[0], theirs[0], make_inputs, dtype)
    else:
        compare_outputs(ours, theirs, make_inputs, dtype)
    back = to_torch(ours)
    assert repr(back) == repr(theirs)
    assert_same_bits({k: v.numpy() for k, v in back.state_dict().items()},
                     {k: v.numpy() for k, v in theirs.state_dict().items()})


def test_train_and_eval_modes_and_frozen_parameters_are_kept():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Embedding.from_pretrained(np.eye(3)))
    model[1].eval()
    theirs = to_torch(model)
    assert theirs.training and not theirs[1].training
    assert theirs[0].weight.requires_grad and not theirs[2].weight.requires_grad
    back = from_torch(theirs)
    assert back[0].training and not back[1].training
    assert back[0].weight.requires_grad and not back[2].weight.requires_grad


def test_proj_size_lstm_converts_both_ways():
    ours = nn.LSTM(4, 6, 2, proj_size=3, dtype=np.float64)
    theirs = to_torch(ours)
    assert theirs.proj_size == 3
    compare_outputs(ours, theirs, seq(T, B, 4), np.float64)
    assert_same_bits(state_arrays(from_torch(theirs)), state_arrays(ours))


class Doubling(nn.Module):
    """A custom cell: no PyTorch equivalent."""

    def forward(self, x, state):
        return 2 * x + state


def test_modules_without_an_equivalent_raise_type_error_naming_them():
    with pytest.raises(TypeError, match=r"to_torch: module '1\.cell'.*Doubling"):
        model = nn.Sequential(nn.Linear(2, 2), nn.ModuleList())
        model[1].cell = Doubling()
        to_torch(model)
    with pytest.raises(TypeError, match="to_torch: the model is a .*Doubling"):
        to_torch(Doubling())

    class MyLinear(torch.nn.Linear):
        pass

    with pytest.raises(TypeError, match=r"from_torch: module '0'.*MyLinear"):
        from_torch(torch.nn.Sequential(MyLinear(2, 2)))
    with pytest.raises(TypeError, match="from_torch: .*Conv1d"):
        from_torch(torch.nn.Conv1d(2, 2, 3))
    with pytest.raises(ValueError, match=r"from_torch: cannot convert module '1' \(Embedding\): max_norm"):
        from_torch(torch.nn.Sequential(torch.nn.Identity(), torch.nn.Embedding(4, 2, max_norm=1.0)))
    with pytest.raises(TypeError, match="expected a tinygrad_rnn.nn.Module"):
        to_torch(torch.nn.Linear(2, 2))


def test_softmax_modules_convert_with_their_dim():
    for cls in (nn.Softmax, nn.LogSoftmax):
        ours = nn.Sequential(nn.Linear(4, 5, dtype=np.float64), cls(dim=-1))
        theirs = to_torch(ours)
        assert type(theirs[1]).__name__ == cls.__name__ and theirs[1].dim == -1
        compare_outputs(ours, theirs, seq(B, 4), np.float64)
        back = from_torch(theirs)
        assert type(back[1]) is cls and back[1].dim == -1
