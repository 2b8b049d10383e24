"""Reverse mode through a bounded while_loop: store-all vs sqrt checkpointing, N = 1,000 steps.

The loop integrates y' = tanh(W y) - y for a (256,) state until t >= T (1,000 Euler steps
inside max_steps = 1,000). Each variant runs in a fresh subprocess: compile with IREE (llvm-cpu,
host), one warm-up call, then the peak RSS is reset (/proc/self/clear_refs) and measured over
timed calls, so the figure is the run's peak, not the compiler's.

    .venv/bin/python benchmarks/while_grad.py
"""

import json
import subprocess
import sys

N, SIZE, REPS = 1000, 256, 5

CHILD = r"""
import json, sys, time
import numpy as np
import aotc
from aotc import lax, numpy as anp
variant, n, size, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
w = (rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
y0 = rng.standard_normal(size).astype(np.float32)
dt = 1.0 / n

def integrate(w, y0, **kw):
    def body(s):
        t, y = s
        return t + dt, y + dt * (anp.tanh(w @ y) - y)
    return lax.while_loop(lambda s: s[0] < 1.0 - dt / 2, body, (anp.float32(0.0), y0), **kw)[1]

if variant == "forward":
    fn = aotc.jit(lambda w, y0: anp.sum(integrate(w, y0) ** 2))
else:
    fn = aotc.jit(aotc.grad(lambda w, y0: anp.sum(integrate(w, y0, max_steps=n,
                                                           checkpoint=variant) ** 2)))
np.asarray(fn(w, y0))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM: measure the run, not the compile
times = []
for _ in range(reps):
    start = time.perf_counter()
    np.asarray(fn(w, y0))
    times.append(time.perf_counter() - start)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"ms": 1e3 * float(np.median(times)), "peak_mb": hwm / 1024}))
"""


def main() -> None:
    rows = []
    for variant in ("forward", "all", "sqrt"):
        out = subprocess.run([sys.executable, "-c", CHILD, variant, str(N), str(SIZE), str(REPS)],
                             capture_output=True, text=True, check=True)
        rows.append((variant, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"while_loop, N = {N} steps, state ({SIZE},) float32, llvm-cpu host, median of {REPS}")
    print(f"{'variant':<28}{'time (ms)':>12}{'peak RSS (MB)':>16}")
    labels = {"forward": "forward only (plain while)", "all": "grad, checkpoint='all'",
              "sqrt": "grad, checkpoint='sqrt'"}
    for variant, r in rows:
        print(f"{labels[variant]:<28}{r['ms']:>12.2f}{r['peak_mb']:>16.1f}")


if __name__ == "__main__":
    main()
