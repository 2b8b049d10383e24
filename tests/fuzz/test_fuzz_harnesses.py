"""Runs each atheris harness in tests/fuzz for a bounded number of inputs: its seed corpus
(real signatures and inputs, plus every crash found so far) and then mutations, with a fixed
seed. A harness exits 0 only when no input raised anything but an AotcError and none hung.
AOTC_FUZZ_SCALE (default 1) multiplies the runs (`make fuzz` runs 10x)."""

import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("atheris")

HERE = os.path.dirname(os.path.abspath(__file__))
SCALE = max(1, int(os.environ.get("AOTC_FUZZ_SCALE", "1")))
RUNS = 3000 * SCALE
HARNESSES = {  # harness: (libFuzzer dictionary, seed corpus folder under corpus/)
    "fuzz_signature.py": ("json.dict", "signature"),
    "fuzz_cli_inputs.py": ("literal.dict", "cli"),
}


def _run_fresh(command, timeout, cwd) -> subprocess.CompletedProcess:
    """Run command as the child of a small shell, not of this process. libFuzzer's OOM check
    reads the peak RSS (getrusage), and Linux carries a process's peak across exec from the
    memory it replaced: Python starts subprocesses with vfork, so a harness started from a
    pytest worker whose peak was 5.4 GB reported 5.4 GB from its first input and was killed as
    out of memory (limit 2 GB). A child the shell forks starts its own count."""
    with subprocess.Popen(["/bin/sh", "-c", '"$@" & wait $!', "sh", *command], cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the shell and the harness
            raise
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_harness_runs_clean(harness, tmp_path):
    dictionary, seeds = HARNESSES[harness]
    corpus = tmp_path / "corpus"  # new inputs go here; the seed folder is only read
    corpus.mkdir()
    command = [sys.executable, os.path.join(HERE, harness), f"-runs={RUNS}", "-seed=1",
               "-timeout=20", f"-dict={os.path.join(HERE, dictionary)}",
               f"-artifact_prefix={tmp_path}/", str(corpus), os.path.join(HERE, "corpus", seeds)]
    done = _run_fresh(command, timeout=60 + RUNS / 100, cwd=tmp_path)
    found = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert done.returncode == 0 and not found, (
        f"{harness} failed (rc {done.returncode}, kept {found}); replay with "
        f"`python tests/fuzz/{harness} <file>`:\n{done.stderr[-4000:]}")
    assert f"Done {RUNS} runs" in done.stderr
