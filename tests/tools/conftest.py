"""The sample model of tests/runtime compiled once through the CLI, and CLI helpers."""

import pytest
from helpers import SAMPLE_MODEL

from aotc.tools.cli import main


@pytest.fixture(scope="session")
def cli_artifact(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("cli") / "sample.vmfb")
    assert main(["compile", SAMPLE_MODEL, "-o", out]) == 0
    return out


@pytest.fixture
def aotc(capsys):
    """Run `aotc ARGS...` in-process; returns (exit status, stdout, stderr)."""

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
