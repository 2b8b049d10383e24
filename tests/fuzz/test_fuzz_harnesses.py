"""Runs each atheris harness in tests/fuzz for a bounded number of inputs: its seed corpus
(real signatures and inputs, plus every crash found so far) and then mutations, with a fixed
seed. A harness exits 0 only when no input raised anything but an AotcError and none hung.
AOTC_FUZZ_SCALE (default 1) multiplies the runs (`make fuzz` runs 10x)."""

import os
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


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_harness_runs_clean(harness, tmp_path):
    dictionary, seeds = HARNESSES[harness]
    corpus = tmp_path / "corpus"  # new inputs go here; the seed folder is only read
    corpus.mkdir()
    command = [sys.executable, os.path.join(HERE, harness), f"-runs={RUNS}", "-seed=1",
               "-timeout=20", f"-dict={os.path.join(HERE, dictionary)}",
               f"-artifact_prefix={tmp_path}/", str(corpus), os.path.join(HERE, "corpus", seeds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60 + RUNS / 100,
                          cwd=tmp_path)
    found = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert done.returncode == 0 and not found, (
        f"{harness} failed (rc {done.returncode}, kept {found}); replay with "
        f"`python tests/fuzz/{harness} <file>`:\n{done.stderr[-4000:]}")
    assert f"Done {RUNS} runs" in done.stderr
