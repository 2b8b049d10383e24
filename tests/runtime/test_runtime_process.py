"""aotc_runtime in fresh processes: no compiler import, no crash at interpreter exit."""

import subprocess
import sys
import textwrap

import pytest

CALL = """
import sys
import numpy as np
import aotc_runtime
m = aotc_runtime.load({path!r})
params = {{"w": np.ones((4, 3), np.float32), "b": np.zeros(3, np.float32)}}
out = m.predict(params, np.ones((2, 4), np.float32))
assert np.allclose(out, np.tanh(4.0)), out
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_runtime_never_imports_the_compiler(sample_artifact):
    proc = run_python(CALL.format(path=sample_artifact) + """
loaded = sorted(name for name in sys.modules if name.startswith(("iree.compiler", "aotc.")))
print(loaded)
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


KEEP_ALIVE = {
    "module_function_and_results_in_globals": "fn = m.predict\nkept = [m, fn, out]",
    "reference_cycle_with_module": "class Holder: pass\nh = Holder(); h.self = h; h.m = m",
    "two_modules_and_a_live_thread": """
import threading
m2 = aotc_runtime.load({path!r}, device="local-sync")
stop = threading.Event()
def loop():
    while not stop.is_set():
        m2.predict(params, np.ones((1, 4), np.float32))
t = threading.Thread(target=loop, daemon=True); t.start()
""",
    "closed_module": "m.close()",
}


@pytest.mark.parametrize("scenario", sorted(KEEP_ALIVE))
def test_interpreter_exit_is_clean_whatever_is_kept_alive(sample_artifact, scenario):
    code = CALL.format(path=sample_artifact) + KEEP_ALIVE[scenario].format(path=sample_artifact)
    proc = run_python(code + "\nprint('done')")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout.strip() == "done"
