"""One compiled sample artifact per test session (tests/runtime/sample_model.py)."""

import os

import pytest

SAMPLE_MODEL = os.path.join(os.path.dirname(__file__), "sample_model.py")


@pytest.fixture(scope="session")
def sample_artifact(tmp_path_factory) -> str:
    from aotc.tools.export import ExportOutput

    folder = tmp_path_factory.mktemp("artifact")
    return ExportOutput.from_file(SAMPLE_MODEL).write(str(folder / "sample.vmfb"))[0]
