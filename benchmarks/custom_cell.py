"""A custom cell's training step: a layer-normalised LSTM (Ba et al. 2016) at config b, float32.

Columns: our nn.Recurrent(LayerNormLSTMCell) compiled (impl="fused") and unrolled, and the same cell
in PyTorch as an eager Python loop (torch.compile of that loop took 338 s to compile here, so it runs
only with TINYGRAD_RNN_BENCH_TORCH_COMPILE=1). Also the compile cost of our kernels: the first
training step in a fresh process with an empty kernel cache (cold) and with the cache that run left
(warm), minus a steady step. (Until the built-in layers were compiled from their steps too, this
benchmark also compared their hand-written kernels with the generated ones: RESULTS.md keeps those
tables.)
"""
import json
import os
import subprocess
import sys
import tempfile
import textwrap

from .common import block_medians, fmt, mse_training_step, optional_torch, record, sgd_training_step, table

CFG = dict(B=32, I=64, H=128, T=100)


def ours(impl):
    from tinygrad_rnn import nn
    return sgd_training_step(lambda: nn.Recurrent(nn.LayerNormLSTMCell(CFG["I"], CFG["H"]), impl=impl), CFG)


def torch_loop(compiled=False):
    import torch

    torch.manual_seed(0)
    I, H = CFG["I"], CFG["H"]
    w_ih, w_hh = torch.nn.Linear(I, 4 * H), torch.nn.Linear(H, 4 * H, bias=False)
    lns = [torch.nn.LayerNorm(4 * H), torch.nn.LayerNorm(4 * H), torch.nn.LayerNorm(H)]
    params = [*w_ih.parameters(), *w_hh.parameters(), *(p for ln in lns for p in ln.parameters())]
    opt = torch.optim.SGD(params, lr=1e-3)
    x = torch.randn(CFG["T"], CFG["B"], I)
    target = torch.randn(CFG["T"], CFG["B"], H)

    def sequence(x):
        h = torch.zeros(CFG["B"], H)
        c = torch.zeros(CFG["B"], H)
        outs = []
        for t in range(CFG["T"]):
            a = lns[0](w_ih(x[t])) + lns[1](w_hh(h))
            i, f, g, o = a.chunk(4, dim=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * lns[2](c).tanh()
            outs.append(h)
        return torch.stack(outs)

    run = torch.compile(sequence) if compiled else sequence
    return mse_training_step(lambda x: (run(x), None), opt, x, target)


_FIRST_STEP = textwrap.dedent("""
    import json, time
    from benchmarks.custom_cell import ours
    step = ours("fused")
    t = time.perf_counter(); step(); first = time.perf_counter() - t
    t = time.perf_counter(); step(); step(); steady = (time.perf_counter() - t) / 2
    print(json.dumps({"first": first, "steady": steady}))
""")


def compile_times():
    """(cold, warm) seconds of compile on the first training step of a new process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TINYGRAD_RNN_CACHE_DIR=cache, PYTHONPATH=root)
        runs = [json.loads(subprocess.run([sys.executable, "-c", _FIRST_STEP], env=env, cwd=root, check=True,
                                          capture_output=True, text=True).stdout) for _ in range(2)]
    return [r["first"] - r["steady"] for r in runs]


def main(quick=False, save=True):
    cold, warm = compile_times()
    fns = {"fused": ours("fused"), "unrolled": ours("unrolled")}
    if optional_torch(threads=2) is not None:
        fns["torch eager loop"] = torch_loop()
        if os.environ.get("TINYGRAD_RNN_BENCH_TORCH_COMPILE") == "1":
            fns["torch.compile"] = torch_loop(compiled=True)
    med = block_medians(fns, 3 if quick else 15)
    ms = {k: v * 1e3 for k, v in med.items()}
    torch_ms = ms.get("torch eager loop")
    rows = [[name, fmt(v), fmt(v / ms["fused"], 2), fmt(v / torch_ms, 2) if torch_ms else "–"]
            for name, v in ms.items()]
    if "torch.compile" not in ms:
        rows.append(["torch.compile", "not run (338 s first call here; TINYGRAD_RNN_BENCH_TORCH_COMPILE=1)", "–", "–"])
    text = table(["implementation", "ms per step", "/ ours fused", "/ PyTorch eager loop"], rows)
    text += f"\n\nCompile on the first step of a new process: cold {cold:.1f} s, warm (disk cache) {warm:.2f} s."
    record("LayerNormLSTMCell training step, config b (B=32 I=64 H=128 T=100, float32, 2 threads, median)",
           text, save)


if __name__ == "__main__":
    main()
