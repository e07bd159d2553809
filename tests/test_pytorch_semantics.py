"""PyTorch's semantics for .data, in-place ops and version counters, Size, devices and dtype names,
aliasing of view/reshape/contiguous/clone, real Tensor methods, and per-thread grad mode."""
import inspect
import threading

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn


def test_data_is_a_detached_tensor_sharing_storage():
    p = tg.tensor([1.0, 2.0], requires_grad=True)
    d = p.data
    assert isinstance(d, tg.Tensor) and not d.requires_grad and d.grad_fn is None
    p.grad = tg.tensor([0.5, 0.5])
    p.data.add_(p.grad, alpha=-2.0)  # hand-written SGD
    np.testing.assert_array_equal(p.detach().numpy(), [0.0, 1.0])
    p.data.copy_(tg.tensor([3.0, 4.0]))
    p.data.uniform_(-0.1, 0.1)
    assert np.all(np.abs(p.detach().numpy()) <= 0.1)
    p.data = tg.tensor([7.0, 8.0, 9.0])
    assert p.shape == (3,) and p.requires_grad


def test_loss_accumulated_with_plus_equals_over_steps():
    w = tg.tensor([0.5, -1.0], requires_grad=True)
    loss = 0
    for t in range(3):
        loss += (w * float(t + 1)).sum()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 6.0])
    total = tg.zeros(())
    for t in range(3):
        total += (w * w).sum()  # a tensor that did not require grad joins the graph
    total.backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0 + 3.0, 6.0 - 6.0])


def test_inplace_on_graph_tensors_is_recorded():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True, dtype=np.float64)
    h = x * 1.0
    h.mul_(x).add_(x, alpha=2.0).sub_(1.0).div_(2.0).clamp_(max=6.0)
    h[0] = x[1] * 10.0
    h.sum().backward()
    # h = clamp(((x^2 + 2x - 1) / 2), max=6) with h[0] replaced by 10 x1
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 10.0 + 3.0, 0.0])


def test_inplace_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    for write in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.copy_([0.0, 0.0]), lambda: w.mul_(2.0)):
        with pytest.raises(RuntimeError, match="leaf"):
            write()
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1.0
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with tg.no_grad():
        w.mul_(3.0)
        w -= 1.0
    np.testing.assert_array_equal(w.detach().numpy(), [2.0, 5.0])


def test_modifying_a_saved_tensor_raises_at_backward_naming_the_op():
    x = tg.tensor([0.5, 1.0], requires_grad=True)
    y = x.tanh()  # saves its output
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Tanh.*in-place"):
        y.sum().backward()
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = a * 2.0
    c = b * b  # saves b
    b.detach().zero_()  # detach shares the version counter
    with pytest.raises(RuntimeError, match="Mul.*modified by an in-place"):
        c.sum().backward()


def test_inplace_after_use_by_an_op_that_saved_nothing_keeps_old_gradient_path():
    x = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    h = x * 3.0
    y = h + 1.0  # Add saves nothing
    h.mul_(x)
    (y.sum() + h.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0 + 6.0 * 1.0, 3.0 + 6.0 * 2.0])


def test_size_is_a_tuple_printed_like_torch_size():
    t = tg.zeros(2, 3)
    s = t.size()
    assert isinstance(s, tuple) and isinstance(s, tg.Size) and s == (2, 3) and s.numel() == 6
    assert repr(s) == "Size([2, 3])" and t.size(1) == 3 and t.size(-1) == 3
    assert t.numel() == 6 and t.dim() == 2 and t.tolist() == [[0.0] * 3] * 2


def test_devices_and_dtype_names():
    cpu = tg.device("cpu")
    assert str(cpu) == "cpu" and cpu == "cpu" and cpu.type == "cpu"
    with pytest.raises(RuntimeError, match="CPU library"):
        tg.device("cuda")
    t = tg.zeros(2, 2, device="cpu")
    assert t.to("cpu") is t and t.cpu() is t and t.device == cpu
    assert t.to(cpu, tg.double).dtype == np.float64 and t.to(dtype=tg.long).dtype == np.int64
    assert (tg.float, tg.double, tg.long, tg.int, tg.bool) == (np.float32, np.float64, np.int64, np.int32, np.bool_)
    assert t.long().dtype == np.int64 and t.int().dtype == np.int32 and t.bool().dtype == np.bool_
    assert t.type() == "torch.FloatTensor" and t.type(tg.LongTensor).dtype == np.int64
    assert t.type("torch.DoubleTensor").dtype == np.float64
    assert tg.LongTensor([1, 2]).dtype == np.int64 and tg.FloatTensor([1, 2]).dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU library"):
        t.to("cuda:0")
    m = nn.Linear(2, 2).to(tg.device("cpu"))
    assert m.to("cpu", tg.float64).weight.dtype == np.float64


def test_from_numpy_shares_memory():
    a = np.zeros(3)
    t = tg.from_numpy(a)
    a[0] = 5.0
    assert t[0].item() == 5.0 and t.dtype == np.float64


def test_view_shares_memory_or_raises_reshape_copies_only_when_needed():
    x = tg.arange(6.0)
    v = x.view(2, 3)
    assert np.shares_memory(v.numpy(), x.numpy()) and x.view(-1, 2).shape == (3, 2)
    t = v.t()
    assert not t.is_contiguous()
    with pytest.raises(ValueError, match="reshape"):
        t.view(6)
    assert not np.shares_memory(t.reshape(6).numpy(), x.numpy())
    assert np.shares_memory(v.reshape(3, 2).numpy(), x.numpy())
    c = t.contiguous()
    assert c.is_contiguous() and not np.shares_memory(c.numpy(), x.numpy()) and v.contiguous() is v


def test_clone_copies_and_passes_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.grad_fn.name() == "Clone" and not np.shares_memory(c.detach().numpy(), x.detach().numpy())
    (c * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_methods_are_real_with_signatures_and_docstrings():
    for name in ("sum", "mean", "max", "reshape", "view", "transpose", "permute", "clamp", "topk", "gather",
                 "masked_fill", "add_", "copy_", "narrow", "index_select", "softmax", "to", "size", "norm"):
        method = getattr(tg.Tensor, name)
        params = inspect.signature(method).parameters
        assert "kwargs" not in params or name == "to", name
        assert method.__qualname__.startswith("Tensor."), name
    for name in ("sum", "view", "reshape", "clamp", "topk", "copy_", "contiguous", "clone", "to"):
        assert getattr(tg.Tensor, name).__doc__, name


def test_new_factories_and_selection_methods():
    x = tg.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert x.new_zeros(2).dtype == np.float32 and x.new_ones((1, 2)).shape == (1, 2)
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == np.float32
    v, i = x.topk(2, dim=1)
    assert v.tolist() == [[3.0, 2.0], [5.0, 4.0]] and i.tolist() == [[0, 2], [1, 2]]
    v, i = x.sort(dim=1, descending=True)
    assert i.tolist() == [[0, 2, 1], [1, 2, 0]] and x.argsort(dim=1).tolist() == [[1, 2, 0], [0, 2, 1]]
    assert x.narrow(1, 1, 2).tolist() == [[1.0, 2.0], [5.0, 4.0]]
    assert x.index_select(1, tg.tensor([2, 0])).tolist() == [[2.0, 3.0], [4.0, 0.0]]
    assert x.gather(1, tg.tensor([[1], [0]])).tolist() == [[1.0], [0.0]]
    assert x.masked_fill(x > 2.5, -1.0).tolist() == [[-1.0, 1.0, 2.0], [0.0, -1.0, -1.0]]
    assert (x > 1).any().item() and not (x > 1).all().item() and x.eq(x).all().item()
    assert x.t().shape == (3, 2) and x.cumsum(1).tolist() == [[3.0, 4.0, 6.0], [0.0, 5.0, 9.0]]
    assert x.prod(1).tolist() == [6.0, 0.0] and abs(x.norm().item() - np.sqrt(55.0)) < 1e-5


def test_grad_mode_is_per_thread():
    seen = {}
    inside, release = threading.Event(), threading.Event()

    def worker():
        with tg.no_grad():
            inside.set()
            release.wait(5)
            seen["worker"] = tg.is_grad_enabled()

    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    x = tg.tensor([1.0], requires_grad=True)
    y = x * 2.0
    seen["main"] = tg.is_grad_enabled() and y.requires_grad
    release.set()
    th.join()
    assert seen == {"worker": False, "main": True}


def test_threads_training_models_match_sequential_runs_bit_for_bit():
    expected = [_train_in_thread(s) for s in range(4)]
    got = [None] * 4
    threads = [threading.Thread(target=lambda s=s: got.__setitem__(s, _train_in_thread(s))) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for e, g in zip(expected, got):
        for a, b in zip(e, g):
            np.testing.assert_array_equal(a, b)


def _train_in_thread(seed):
    """Each thread builds and trains its own model (the global seed is shared, so build under a lock)."""
    with _BUILD_LOCK:
        tg.manual_seed(seed)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(seed)
    x, y = tg.tensor(rng.standard_normal((16, 4)).astype(np.float32)), tg.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


_BUILD_LOCK = threading.Lock()


def test_reentrant_grad_inside_a_hook_leaves_the_outer_backward_intact():
    a = tg.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    b = a * 3.0
    y1, y2 = b * b, b.sum()
    inner = {}
    y1.register_hook(lambda g: inner.setdefault("g", tg.autograd.grad(y2, [a], retain_graph=True)) and None)
    (y1.sum() + y2).backward(retain_graph=True)
    np.testing.assert_allclose(a.grad.numpy(), [21.0, 39.0])
    np.testing.assert_allclose(inner["g"][0].numpy(), [3.0, 3.0])


def test_index_assignment_outside_a_graph_writes_in_place_and_refuses_bad_input():
    x = tg.zeros(3, 4)
    view = x[1]
    x[1] = 5.0
    x[0, :2] = tg.tensor([1.0, 2.0])
    assert view.tolist() == [5.0] * 4 and x[0].tolist() == [1.0, 2.0, 0.0, 0.0]
    before = x.numpy().copy()
    with pytest.raises(IndexError, match="out of bounds"):
        x[7] = 1.0
    with pytest.raises(ValueError, match="broadcast"):
        x[0] = tg.ones(5)
    np.testing.assert_array_equal(x.numpy(), before)


def test_multinomial_draws_indices_as_torch_and_refuses_bad_weights():
    torch = pytest.importorskip("torch")
    w = [[0.0, 1.0, 2.0, 3.0], [5.0, 0.0, 0.0, 1.0]]
    ours, theirs = tg.multinomial(tg.tensor(w), 2), torch.multinomial(torch.tensor(w), 2)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    assert all(len(set(row)) == 2 and 0 not in [w[i][j] for j in row] for i, row in enumerate(ours.tolist()))
    assert tg.multinomial(tg.tensor([0.0, 1.0]), 1).tolist() == [1]
    tg.manual_seed(3)
    counts = np.bincount(tg.multinomial(tg.tensor([1.0, 3.0]), 4000, replacement=True).numpy(), minlength=2)
    assert abs(counts[1] / 4000 - 0.75) < 0.03
    for bad in ([-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="multinomial"):
            tg.multinomial(tg.tensor(bad), 1)
        with pytest.raises(RuntimeError):
            torch.multinomial(torch.tensor(bad), 1)
    with pytest.raises(ValueError, match="without replacement"):
        tg.multinomial(tg.tensor([0.0, 1.0]), 2)


def test_linear_refuses_a_bias_of_another_dtype_or_size():
    w = tg.zeros(3, 2)
    with pytest.raises(TypeError, match="bias dtype"):
        tg.nn.functional.linear(tg.zeros(1, 2), w, tg.zeros(3, dtype=np.float64))
    with pytest.raises(ValueError, match="bias must be a vector of size 3"):
        tg.nn.functional.linear(tg.zeros(1, 2), w, tg.zeros(4))
