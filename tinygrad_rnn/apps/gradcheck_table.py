"""The CLI's `gradcheck`: finite-difference checks of every recurrent layer, as a table.

Each row is one layer type and implementation (2 layers, bidirectional, variable lengths, float64):
the worst relative error of each parameter's directional derivative, and the verdicts of
tinygrad_rnn.gradcheck in projection mode and in full mode on a smaller layer.
"""
import numpy as np

import tinygrad_rnn as tg

GRADCHECK_MODELS = [("RNN tanh", "RNN", {"nonlinearity": "tanh"}), ("RNN relu", "RNN", {"nonlinearity": "relu"}),
                    ("LSTM", "LSTM", {}), ("GRU", "GRU", {})]
GRADCHECK_COLUMNS = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "input", "h0", "c0"]
GRADCHECK_RTOL = 1e-5


def _layer_case(kind, extra, impl, T, B, I, H, layers, lengths, rng):
    """A float64 bidirectional layer, its named differentiable inputs and fn() -> its outputs."""
    layer = getattr(tg.nn, kind)(I, H, num_layers=layers, bidirectional=True, impl=impl, dtype=np.float64, **extra)
    x = tg.tensor(rng.standard_normal((T, B, I)), dtype=np.float64, requires_grad=True)
    states = [tg.tensor(rng.standard_normal((2 * layers, B, H)), dtype=np.float64, requires_grad=True)
              for _ in range(2 if kind == "LSTM" else 1)]
    hx = tuple(states) if kind == "LSTM" else states[0]

    def fn(*_):
        out, final = layer(x, hx, lengths=lengths)
        return (out, *final) if kind == "LSTM" else (out, final)

    named = [("input", x)] + list(zip(("h0", "c0"), states)) + list(layer.named_parameters())
    return fn, named


def _directional_errors(fn, named, rng, eps=1e-6):
    """Per input: relative error of <grad, v> (one backward) against the central difference of
    <u, f(x + eps v)> along a random v, for a random output weighting u."""
    outs = fn()
    us = [rng.standard_normal(o.shape) for o in outs]
    grads = tg.autograd.grad(list(outs), [t for _, t in named], [tg.tensor(u, dtype=np.float64) for u in us],
                             allow_unused=True)
    errors = {}
    for (name, t), g in zip(named, grads):
        v = rng.standard_normal(t.shape)
        analytic = 0.0 if g is None else float((g._data * v).sum())
        orig, values = t._data.copy(), []
        for sign in (1.0, -1.0):
            t._data[...] = orig + sign * eps * v
            with tg.no_grad():
                values.append(sum(float((o._data * u).sum()) for o, u in zip(fn(), us)))
        t._data[...] = orig
        numeric = (values[0] - values[1]) / (2 * eps)
        column = name.split("_l")[0] if "_l" in name else name
        err = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-8)
        errors[column] = max(errors.get(column, 0.0), err)
    return errors


def gradcheck_table(only_model=None, only_impl=None):
    """Finite-difference checks (float64, central differences) of RNN (tanh, relu), LSTM and GRU with
    impl="fused" and impl="unrolled": 2 layers, bidirectional, variable lengths. Prints the worst
    relative error of each parameter's directional derivative (weights and biases worst over layers
    and directions) and the verdicts of tinygrad_rnn.gradcheck in projection mode and in full mode on a
    smaller layer; exits 1 if any check fails. --model and --impl (only_model, only_impl) select rows."""
    header = ["model", "impl"] + GRADCHECK_COLUMNS + ["projection", "full", "result"]
    rows, all_ok = [], True
    for label, kind, extra in GRADCHECK_MODELS:
        if only_model and kind != only_model.upper():
            continue
        for impl in [only_impl] if only_impl else ["fused", "unrolled"]:
            tg.manual_seed(0)
            rng = np.random.default_rng(0)
            fn, named = _layer_case(kind, extra, impl, 6, 3, 4, 5, 2, [6, 4, 2], rng)
            errors = _directional_errors(fn, named, rng)
            verdicts = [tg.gradcheck(fn, [t for _, t in named], mode="projection", raise_exception=False)]
            small_fn, small = _layer_case(kind, extra, impl, 3, 2, 2, 2, 1, [3, 2], rng)
            verdicts.append(tg.gradcheck(small_fn, [t for _, t in small], mode="full", raise_exception=False))
            ok = all(verdicts) and max(errors.values()) <= GRADCHECK_RTOL
            all_ok &= ok
            rows.append([label, impl] + [f"{errors[c]:.1e}" if c in errors else "-" for c in GRADCHECK_COLUMNS]
                        + ["ok" if v else "FAIL" for v in verdicts] + ["ok" if ok else "FAIL"])
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"gradcheck {'passed' if all_ok else 'FAILED'}: relative errors must be <= {GRADCHECK_RTOL:g}")
    return all_ok
