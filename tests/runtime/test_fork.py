"""Fork safety: after the parent ran a module on `local-task` (whose worker threads a forked
child does not inherit), children made by os.fork() or a multiprocessing fork pool call modules
loaded before and after the fork, and exit, without hanging."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback

import iree.runtime as rt
import numpy as np
import pytest
import runtime_reference as ref

import aotc_runtime

X = ref.batch(3)
EXPECTED = ref.predict(ref.PARAMS, X)


def correct(m) -> bool:
    return np.allclose(m.predict(ref.PARAMS, X), EXPECTED, rtol=1e-5, atol=1e-6)


def in_child(work, timeout: float = 30.0):
    """Exit status of work() (True -> 0, False -> 2, an exception -> 3) in a forked child, or
    'hang' when it did not finish within timeout."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = 0 if work() else 2
        except BaseException:  # noqa: BLE001 (reported through the exit status)
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hang"


@pytest.fixture
def parent_module(sample_artifact):
    m = aotc_runtime.load(sample_artifact, device="local-task")  # the device with worker threads
    assert m.driver == "local-task" and correct(m)
    return m


def test_a_forked_child_calls_modules_loaded_before_and_after_the_fork(parent_module,
                                                                      sample_artifact):
    assert in_child(lambda: correct(parent_module)) == 0
    assert in_child(lambda: correct(aotc_runtime.load(sample_artifact))) == 0
    assert in_child(lambda: correct(aotc_runtime.load(sample_artifact)) and correct(
        parent_module) and in_child(lambda: correct(parent_module)) == 0) == 0  # grandchild
    assert correct(parent_module)  # the parent's device is untouched


def test_a_fork_while_another_thread_is_calling_does_not_deadlock(parent_module):
    stop = threading.Event()

    def keep_calling():
        while not stop.is_set():
            parent_module.predict(ref.PARAMS, X)

    thread = threading.Thread(target=keep_calling)
    thread.start()
    try:
        statuses = [in_child(lambda: correct(parent_module), timeout=20) for _ in range(5)]
    finally:
        stop.set()
        thread.join()
    assert statuses == [0] * 5


def test_a_module_on_a_device_object_says_to_reload_in_the_child(sample_artifact):
    m = aotc_runtime.load(sample_artifact, device=rt.get_device("local-task"))
    assert correct(m)

    def child():
        try:
            m.predict(ref.PARAMS, X)
        except aotc_runtime.ArtifactError as exc:
            return "do not survive fork" in str(exc) and "device='local-task'" in str(exc)
        return False

    assert in_child(child) == 0


_POOL_MODULE = None  # loaded in the parent, inherited by the pool's forked workers


def _pool_call(seed: int) -> float:
    x = ref.batch(2, seed=seed)
    fresh = aotc_runtime.load(_POOL_MODULE.source)
    a, b = _POOL_MODULE.predict(ref.PARAMS, x), fresh.predict(ref.PARAMS, x)
    assert np.array_equal(a, b)
    return float(np.abs(a - ref.predict(ref.PARAMS, x)).max())


def test_a_multiprocessing_fork_pool_calls_modules(parent_module):
    global _POOL_MODULE
    _POOL_MODULE = parent_module
    with multiprocessing.get_context("fork").Pool(2) as pool:
        errors = pool.map_async(_pool_call, range(8)).get(timeout=60)
    assert len(errors) == 8 and max(errors) < 1e-5


def test_a_forked_child_that_exits_normally_does_not_hang(sample_artifact):
    # A child that returns from the script runs interpreter finalization, which destroyed the
    # inherited local-task device and waited for its missing workers forever.
    script = textwrap.dedent(f"""
        import os, sys
        import numpy as np
        import aotc_runtime
        m = aotc_runtime.load({sample_artifact!r})
        params = {{"w": np.ones((4, 3), np.float32), "b": np.zeros(3, np.float32)}}
        x = np.ones((2, 4), np.float32)
        assert np.allclose(m.predict(params, x), np.tanh(4.0))
        pid = os.fork()
        if pid == 0:
            assert np.allclose(m.predict(params, x), np.tanh(4.0))
            print("child done", flush=True)
            sys.exit(0)
        _, status = os.waitpid(pid, 0)
        print("child status", os.waitstatus_to_exitcode(status), flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["child", "done", "child", "status", "0"]
