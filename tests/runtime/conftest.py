"""One compiled sample artifact per test session (tests/runtime/sample_model.py)."""

import os

import pytest

SAMPLE_MODEL = os.path.join(os.path.dirname(__file__), "sample_model.py")


@pytest.fixture(scope="session")
def sample_artifact(tmp_path_factory) -> str:
    from aotc.tools.export import compile_file

    return compile_file(SAMPLE_MODEL, str(tmp_path_factory.mktemp("artifact") / "sample.vmfb"))
