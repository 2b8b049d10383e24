"""The performance suite: aotc.jit against jax.jit on 16 workloads, in one process.

    .venv/bin/python benchmarks/suite.py [--repeat 10] [--only mlp_fwd,matmul_1024]
                                         [--device local-sync] [--plot] [--cache]

Each workload is written once, as JAX-style source over a namespace `ns` (ns.np, ns.lax, ns.nn,
ns.grad, ns.value_and_grad, ns.vmap), and built twice: with jax.numpy/jax.lax/jax.nn and with
aotc.numpy/aotc.lax/aotc.nn, on the same numpy inputs (seeded). JAX runs as jax.jit(f) on device
arrays (block_until_ready); aotc as aotc.jit(f) with no flags (its defaults), numpy in and out.
The first call of each side (trace + compile + run) is timed and the two results are checked
equal (allclose) before any timing; then both are timed in interleaved rounds
(benchmarks/timing.py), --repeat rounds after warm-up, and the median per-call time is reported
with the ratio aotc / JAX (< 1: aotc faster) and the geometric mean of the ratios. Then the
same interleaved rounds measure process CPU time per call (every thread: JAX's and IREE's
worker pools count), which a loaded machine changes far less than wall time: on a shared
2-core machine at load 10, a compute-bound call spends 2-4x its CPU time waiting for a core.
A workload one side fails to compile is reported with the error, not fatal.

aotc's compile cache is off here (AOTC_CACHE=0) so that its first call measures a real compile;
--cache keeps it. --plot writes benchmarks/results/suite.png (ratios, log scale) and
benchmarks/results/suite.md (the table); --name other writes other.png and other.md instead.
Timings on a loaded machine are noisy: the load average is printed with the table.
"""

import argparse
import datetime
import itertools
import math
import os
import platform
import sys
import time
import types

import numpy as np
from timing import calls_for, median_times

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
WORKLOADS: dict = {}  # name -> (description, build(ns, rng) -> (fn, args))


def workload(name: str, description: str):
    def register(build):
        WORKLOADS[name] = (description, build)
        return build

    return register


def namespace(kind: str) -> types.SimpleNamespace:
    """The modules and transforms of JAX or aotc under the same names."""
    if kind == "jax":
        import jax

        return types.SimpleNamespace(np=jax.numpy, lax=jax.lax, nn=jax.nn, grad=jax.grad,
                                     value_and_grad=jax.value_and_grad, vmap=jax.vmap)
    import aotc

    return types.SimpleNamespace(np=aotc.numpy, lax=aotc.lax, nn=aotc.nn, grad=aotc.grad,
                                 value_and_grad=aotc.value_and_grad, vmap=aotc.vmap)


# ---- shared pieces of the workloads -------------------------------------------------------------


def normal(rng: np.random.Generator, *shape, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def dense_params(rng: np.random.Generator, sizes) -> dict:
    params = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
        params[f"w{k}"] = normal(rng, n_in, n_out, scale=1 / math.sqrt(n_in))
        params[f"b{k}"] = normal(rng, n_out, scale=0.1)
    return params


def one_hot_labels(rng: np.random.Generator, n: int, classes: int = 10) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def mlp_apply(ns, params, x):
    """Dense layers with relu between them (as many as params has)."""
    layers = len(params) // 2
    for k in range(1, layers):
        x = ns.nn.relu(x @ params[f"w{k}"] + params[f"b{k}"])
    return x @ params[f"w{layers}"] + params[f"b{layers}"]


def cross_entropy(ns, logits, labels):
    return -ns.np.mean(ns.np.sum(ns.nn.log_softmax(logits, axis=-1) * labels, axis=-1))


MLP_SIZES = (784, 512, 512, 10)


def mlp_problem(rng: np.random.Generator, batch: int = 128) -> tuple:
    return (dense_params(rng, MLP_SIZES), normal(rng, batch, MLP_SIZES[0]),
            one_hot_labels(rng, batch))


def conv_relu_pool(ns, x, kernel, bias):
    """3x3 SAME convolution (NHWC, HWIO), relu, 2x2 max pool."""
    x = ns.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = ns.nn.relu(x + bias)
    return ns.lax.reduce_window(x, -np.inf, ns.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def cnn_apply(ns, params, images):
    x = conv_relu_pool(ns, images, params["conv1"], params["bias1"])
    x = conv_relu_pool(ns, x, params["conv2"], params["bias2"])
    return x.reshape(x.shape[0], -1) @ params["dense"] + params["bias3"]


def cnn_problem(rng: np.random.Generator, batch: int = 64) -> tuple:
    params = {"conv1": normal(rng, 3, 3, 1, 16, scale=1 / 3),
              "bias1": normal(rng, 16, scale=0.1),
              "conv2": normal(rng, 3, 3, 16, 32, scale=1 / 12),
              "bias2": normal(rng, 32, scale=0.1),
              "dense": normal(rng, 7 * 7 * 32, 10, scale=1 / math.sqrt(7 * 7 * 32)),
              "bias3": normal(rng, 10, scale=0.1)}
    return params, normal(rng, batch, 28, 28, 1), one_hot_labels(rng, batch)


D_MODEL, HEADS, D_MLP, SEQ = 256, 4, 1024, 128


def layer_norm(ns, x, gain, bias):
    mean = ns.np.mean(x, axis=-1, keepdims=True)
    var = ns.np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / ns.np.sqrt(var + 1e-5) * gain + bias


def transformer_block(ns, p, x):
    """Pre-norm block: multi-head self-attention then a gelu MLP, each with a residual."""
    seq, d = x.shape
    head = d // HEADS
    h = layer_norm(ns, x, p["ln1_g"], p["ln1_b"])
    q, k, v = (ns.np.reshape(h @ p[w], (seq, HEADS, head)) for w in ("wq", "wk", "wv"))
    scores = ns.np.einsum("qhd,khd->hqk", q, k) / np.float32(math.sqrt(head))
    attended = ns.np.einsum("hqk,khd->qhd", ns.nn.softmax(scores, axis=-1), v)
    x = x + ns.np.reshape(attended, (seq, d)) @ p["wo"]
    h = layer_norm(ns, x, p["ln2_g"], p["ln2_b"])
    return x + ns.nn.gelu(h @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]


def transformer_problem(rng: np.random.Generator) -> tuple:
    d = D_MODEL
    params = {w: normal(rng, d, d, scale=1 / math.sqrt(d)) for w in ("wq", "wk", "wv", "wo")}
    params |= {"ln1_g": np.ones(d, np.float32), "ln1_b": np.zeros(d, np.float32),
               "ln2_g": np.ones(d, np.float32), "ln2_b": np.zeros(d, np.float32),
               "w1": normal(rng, d, D_MLP, scale=1 / math.sqrt(d)),
               "b1": normal(rng, D_MLP, scale=0.1),
               "w2": normal(rng, D_MLP, d, scale=1 / math.sqrt(D_MLP)),
               "b2": normal(rng, d, scale=0.1)}
    return params, normal(rng, SEQ, d)


# ---- the workloads ------------------------------------------------------------------------------


@workload("mlp_fwd", "MLP 784-512-512-10 forward, batch 128")
def mlp_forward(ns, rng):
    params, x, _ = mlp_problem(rng)
    return (lambda params, x: mlp_apply(ns, params, x)), (params, x)


@workload("mlp_sgd", "MLP value_and_grad + SGD step, batch 128")
def mlp_sgd(ns, rng):
    def step(params, x, labels):
        loss, grads = ns.value_and_grad(lambda p: cross_entropy(ns, mlp_apply(ns, p, x),
                                                                labels))(params)
        return {k: w - 0.01 * grads[k] for k, w in params.items()}, loss

    return step, mlp_problem(rng)


@workload("mlp_adam", "MLP value_and_grad + Adam step (inline), batch 128")
def mlp_adam(ns, rng, b1=0.9, b2=0.999, rate=1e-3):
    def step(params, m, v, t, x, labels):
        loss, grads = ns.value_and_grad(lambda p: cross_entropy(ns, mlp_apply(ns, p, x),
                                                                labels))(params)
        t = t + 1
        m = {k: b1 * m[k] + (1 - b1) * g for k, g in grads.items()}
        v = {k: b2 * v[k] + (1 - b2) * g * g for k, g in grads.items()}
        scale = rate * ns.np.sqrt(1 - b2**t) / (1 - b1**t)
        params = {k: w - scale * m[k] / (ns.np.sqrt(v[k]) + 1e-8) for k, w in params.items()}
        return params, m, v, t, loss

    params, x, labels = mlp_problem(rng)
    # A warmed-up optimizer state, so that m / sqrt(v) is not sign(g) of tiny gradients.
    m = {k: normal(rng, *w.shape, scale=1e-2) for k, w in params.items()}
    v = {k: rng.uniform(1e-4, 2e-4, w.shape).astype(np.float32) for k, w in params.items()}
    return step, (params, m, v, np.float32(10), x, labels)


@workload("cnn_fwd", "CNN NHWC forward: 2x (conv 3x3, relu, maxpool) + dense, 28x28x1, batch 64")
def cnn_forward(ns, rng):
    params, images, _ = cnn_problem(rng)
    return (lambda params, images: cnn_apply(ns, params, images)), (params, images)


@workload("cnn_grad", "CNN NHWC gradient of cross-entropy, batch 64")
def cnn_gradient(ns, rng):
    def gradient(params, images, labels):
        return ns.grad(lambda p: cross_entropy(ns, cnn_apply(ns, p, images), labels))(params)

    return gradient, cnn_problem(rng)


@workload("transformer_fwd", "transformer block forward: seq 128, d 256, 4 heads, MLP 1024")
def transformer_forward(ns, rng):
    return (lambda params, x: transformer_block(ns, params, x)), transformer_problem(rng)


@workload("transformer_grad", "transformer block gradient of mean(out**2)")
def transformer_gradient(ns, rng):
    def gradient(params, x):
        return ns.grad(lambda p: ns.np.mean(transformer_block(ns, p, x) ** 2))(params)

    return gradient, transformer_problem(rng)


@workload("matmul_1024", "matmul 1024x1024 @ 1024x1024")
def matmul_1024(ns, rng, n=1024):
    return (lambda a, b: a @ b), (normal(rng, n, n), normal(rng, n, n))


@workload("matmul_2048", "matmul 2048x2048 @ 2048x2048")
def matmul_2048(ns, rng):
    return matmul_1024(ns, rng, n=2048)


@workload("elementwise", "elementwise chain on 4M floats: tanh, sin, exp, mul, add")
def elementwise(ns, rng):
    def chain(x):
        return ns.np.tanh(x) * 2 + ns.np.sin(x) * x - ns.np.exp(-x * x) * 0.5 + x

    return chain, (normal(rng, 4 * 1024 * 1024),)


@workload("per_example_grad", "per-example grads: vmap(grad) of an MLP 32-64-64-10 loss, batch 128")
def per_example_grad(ns, rng, batch=128):
    def loss(params, x, label):
        return cross_entropy(ns, mlp_apply(ns, params, x), label)

    inputs = (dense_params(rng, (32, 64, 64, 10)), normal(rng, batch, 32),
              one_hot_labels(rng, batch))
    return ns.vmap(ns.grad(loss), in_axes=(None, 0, 0)), inputs


@workload("power_iter", "power iteration, fori_loop 100 steps, 512x512")
def power_iteration(ns, rng, n=512):
    def power(a, v):
        def body(_, v):
            w = a @ v
            return w / ns.np.sqrt(ns.np.sum(w * w))

        v = ns.lax.fori_loop(0, 100, body, v)
        return v, v @ (a @ v)

    m = normal(rng, n, n)
    return power, (m @ m.T / n, normal(rng, n))


@workload("rk4", "RK4 integrator, fori_loop 100 steps, y' = tanh(W y) - y/2, size 256")
def rk4(ns, rng, n=256, dt=0.05):
    def integrate(w, y):
        def f(y):
            return ns.np.tanh(w @ y) - 0.5 * y

        def body(_, y):
            k1 = f(y)
            k2 = f(y + dt / 2 * k1)
            k3 = f(y + dt / 2 * k2)
            k4 = f(y + dt * k3)
            return y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        return ns.lax.fori_loop(0, 100, body, y)

    return integrate, (normal(rng, n, n, scale=1.5 / math.sqrt(n)), normal(rng, n))


@workload("rnn_bptt", "RNN BPTT: grad through scan, 50 steps, hidden 256, batch 32")
def rnn_bptt(ns, rng, steps=50, batch=32, features=64, hidden=256):
    def loss(params, xs):
        def cell(h, x):
            h = ns.np.tanh(x @ params["wx"] + h @ params["wh"] + params["b"])
            return h, h

        _, hs = ns.lax.scan(cell, ns.np.zeros((xs.shape[1], hidden), np.float32), xs)
        return ns.np.mean(hs**2)

    params = {"wx": normal(rng, features, hidden, scale=1 / math.sqrt(features)),
              "wh": normal(rng, hidden, hidden, scale=0.9 / math.sqrt(hidden)),
              "b": normal(rng, hidden, scale=0.1)}
    return ns.grad(loss), (params, normal(rng, steps, batch, features))


@workload("embedding", "embedding gather: 50000x128 table, 4096 ids")
def embedding(ns, rng, vocab=50000):
    table = normal(rng, vocab, 128)
    ids = rng.integers(0, vocab, 4096).astype(np.int32)
    return (lambda table, ids: ns.np.take(table, ids, axis=0)), (table, ids)


@workload("while_newton", "while_loop Newton solve of x**3 + x = b (64K entries, tol 1e-5)")
def while_newton(ns, rng, n=65536):
    def solve(b):
        def cond(state):
            _, step_size, i = state
            return (step_size > 1e-5) & (i < 100)

        def body(state):
            x, _, i = state
            dx = (x**3 + x - b) / (3 * x**2 + 1)
            return x - dx, ns.np.max(ns.np.abs(dx)), i + 1

        start = (ns.np.zeros_like(b), ns.np.asarray(np.inf, np.float32), ns.np.asarray(0))
        return ns.lax.while_loop(cond, body, start)[0]

    return solve, (rng.uniform(0, 10, n).astype(np.float32),)


# ---- measuring ----------------------------------------------------------------------------------


def check_close(actual, expected, name: str) -> None:
    import jax

    got, want = jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)
    if len(got) != len(want):
        raise AssertionError(f"{name}: aotc returned {len(got)} arrays, JAX {len(want)}")
    for a, e in zip(got, want):
        e = np.asarray(e)
        atol = 1e-3 * max(1.0, float(np.max(np.abs(e), initial=0.0)))
        np.testing.assert_allclose(np.asarray(a), e, rtol=2e-3, atol=atol, err_msg=name)


def first_call(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def short_error(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    line = next((ln for ln in lines if "error:" in ln), lines[0] if lines else "")
    return f"{type(exc).__name__}: {line.split('error:', 1)[-1].strip()}"[:140]


def measure(name: str, repeat: int, device: str | None) -> dict:
    """One workload: first-call times, the equality check, then interleaved medians."""
    import jax

    import aotc

    build = WORKLOADS[name][1]
    jax_fn, args = build(namespace("jax"), np.random.default_rng(0))
    aotc_fn, aotc_args = build(namespace("aotc"), np.random.default_rng(0))
    jitted_jax = jax.jit(jax_fn)
    device_args = jax.device_put(args)
    run_jax = lambda: jax.block_until_ready(jitted_jax(*device_args))
    jitted_aotc = aotc.jit(aotc_fn) if device is None else aotc.jit(aotc_fn, device=device)
    run_aotc = lambda: jitted_aotc(*aotc_args)

    row = {"name": name}
    want, row["jax_first"] = first_call(run_jax)
    try:
        got, row["aotc_first"] = first_call(run_aotc)
        check_close(got, want, name)
    except Exception as exc:  # noqa: BLE001 (a failing workload is reported, the suite goes on)
        row["error"] = short_error(exc)
        return row
    times = median_times({"jax": run_jax, "aotc": run_aotc}, repeat)
    row["jax"], row["aotc"] = times["jax"][0], times["aotc"][0]
    row["ratio"] = row["aotc"] / row["jax"]
    cpu = cpu_times({"jax": run_jax, "aotc": run_aotc}, repeat)
    row["jax_cpu"], row["aotc_cpu"] = cpu["jax"], cpu["aotc"]
    row["cpu_ratio"] = row["aotc_cpu"] / row["jax_cpu"]
    return row


def cpu_times(fns: dict, rounds: int) -> dict:
    """Median process CPU seconds per call of each function over interleaved rounds of about
    5 ms of calls each (all threads of the process count: JAX's and IREE's workers)."""
    calls = {name: calls_for(fn) for name, fn in fns.items()}
    samples: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            start = time.process_time()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.process_time() - start) / calls[name])
    return {name: float(np.median(s)) for name, s in samples.items()}


def geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def table(rows: list) -> str:
    lines = ["| workload | JAX ms | aotc ms | aotc / JAX | JAX CPU ms | aotc CPU ms | "
             "CPU aotc / JAX | JAX first call s | aotc first call s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | | FAIL | | | | | {r['jax_first']:.2f} | "
                         f"{r['error']} |")
            continue
        lines.append(f"| {r['name']} | {r['jax'] * 1e3:.3f} | {r['aotc'] * 1e3:.3f} | "
                     f"{r['ratio']:.2f} | {r['jax_cpu'] * 1e3:.3f} | {r['aotc_cpu'] * 1e3:.3f} | "
                     f"{r['cpu_ratio']:.2f} | {r['jax_first']:.2f} | {r['aotc_first']:.2f} |")
    measured = [r for r in rows if "ratio" in r]
    lines.append(f"| **geomean** ({len(measured)} of {len(rows)}) | | | "
                 f"**{geomean(r['ratio'] for r in measured):.2f}** | | | "
                 f"**{geomean(r['cpu_ratio'] for r in measured):.2f}** | | |")
    return "\n".join(lines)


def context(args, loads: list) -> str:
    import jax

    import aotc

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{stamp}; {platform.machine()}, {os.cpu_count()} cores; load average (1 min) "
            f"{min(loads):.1f}-{max(loads):.1f} during the run; JAX {jax.__version__}, "
            f"aotc {aotc.__version__}; aotc device {args.device or 'chosen per program'}; "
            f"median of {args.repeat} interleaved rounds after warm-up; aotc compile cache "
            f"{'on' if args.cache else 'off'}.")


def plot(rows: list, path: str, title: str) -> None:
    """Bars of the wall-time ratios (green at most 1, red above) and, beside each, a grey bar of
    the CPU-time ratio, on a log scale with a line at 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if "ratio" in r]
    ratios = [r["ratio"] for r in measured]
    cpu = [r["cpu_ratio"] for r in measured]
    at = np.arange(len(measured))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(measured) + 1.6))
    ax.barh(at - 0.2, ratios, height=0.4, label="wall time",
            color=["tab:green" if q <= 1 else "tab:red" for q in ratios])
    ax.barh(at + 0.2, cpu, height=0.4, color="tab:gray", label="CPU time (all threads)")
    ax.set_yticks(at, [r["name"] for r in measured])
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(ratios + cpu) / 1.5), max(2.0, max(ratios + cpu) * 3))
    ax.axvline(1.0, color="black", linewidth=1)
    ax.invert_yaxis()
    for y, q, c in zip(at, ratios, cpu):
        for offset, value in ((-0.2, q), (0.2, c)):
            ax.annotate(f"{value:.2f}", (value, y + offset), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7)
    ax.set_xlabel("aotc / JAX per call (log scale; < 1: aotc faster)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="interleaved timing rounds")
    parser.add_argument("--only", default="", help="comma-separated workload names")
    parser.add_argument("--device", choices=("local-sync", "local-task"), default=None,
                        help="aotc.jit's runtime device (default: aotc.jit's own)")
    parser.add_argument("--plot", action="store_true",
                        help="write benchmarks/results/suite.png and suite.md")
    parser.add_argument("--cache", action="store_true", help="keep aotc's compile cache on")
    parser.add_argument("--name", default="suite",
                        help="file name of --plot's outputs in benchmarks/results (default suite)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (description, _) in WORKLOADS.items():
            print(f"{name:18s}{description}")
        return
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS)}")
    if not args.cache:
        os.environ["AOTC_CACHE"] = "0"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    rows, loads = [], [os.getloadavg()[0]]
    for name in names:
        row = measure(name, args.repeat, args.device)
        loads.append(os.getloadavg()[0])
        rows.append(row)
        if "error" in row:
            print(f"{name:18s} FAIL  {row['error']}", flush=True)
        else:
            print(f"{name:18s} JAX {row['jax'] * 1e3:9.3f} ms  aotc {row['aotc'] * 1e3:9.3f} ms"
                  f"  ratio {row['ratio']:5.2f}  CPU ratio {row['cpu_ratio']:5.2f}  first call "
                  f"JAX {row['jax_first']:.2f} s, aotc {row['aotc_first']:.2f} s", flush=True)
    text = table(rows)
    about = context(args, loads)
    print(f"\n{about}\n\n{text}")
    if args.plot:
        os.makedirs(RESULTS, exist_ok=True)
        command = " ".join(["benchmarks/suite.py", *(argv if argv is not None else sys.argv[1:])])
        with open(os.path.join(RESULTS, f"{args.name}.md"), "w") as out:
            out.write(f"# aotc.jit against jax.jit\n\n`.venv/bin/python {command}`\n\n"
                      f"{about}\n\n{text}\n\n"
                      f"Descriptions:\n\n" + "".join(f"- `{n}`: {WORKLOADS[n][0]}\n"
                                                     for n in names))
        measured = [r["ratio"] for r in rows if "ratio" in r]
        cpu = [r["cpu_ratio"] for r in rows if "ratio" in r]
        plot(rows, os.path.join(RESULTS, f"{args.name}.png"),
             f"aotc.jit / jax.jit, geomean {geomean(measured):.2f} (CPU time "
             f"{geomean(cpu):.2f}); load avg {min(loads):.0f}-{max(loads):.0f}, "
             f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
