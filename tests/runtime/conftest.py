"""Compiled sample artifacts, once per test session (tests/runtime/sample_model.py and
tests/runtime/weights_model.py)."""

import os
import re

import pytest
from helpers import SAMPLE_MODEL

HERE = os.path.dirname(__file__)
WEIGHTS_MODEL = os.path.join(HERE, "weights_model.py")
HOST_CPU_FLAGS = ("--iree-hal-target-device=local",
                  "--iree-hal-local-target-device-backends=llvm-cpu",
                  "--iree-llvmcpu-target-cpu=host")


@pytest.fixture(scope="session")
def sample_artifact(tmp_path_factory) -> str:
    from aotc.tools.export import ExportOutput

    folder = tmp_path_factory.mktemp("artifact")
    return ExportOutput.from_file(SAMPLE_MODEL).write(str(folder / "sample.vmfb"))[0]


@pytest.fixture(scope="session")
def weights_artifact(tmp_path_factory) -> tuple[str, str]:
    """(weights_model.vmfb, weights_model.irpa beside it, whose SHA-256 the artifact records)."""
    from aotc.tools.export import ExportOutput

    folder = tmp_path_factory.mktemp("weights")
    vmfb = ExportOutput.from_file(WEIGHTS_MODEL).write(str(folder / "weights_model.vmfb"))[0]
    return vmfb, os.path.splitext(vmfb)[0] + ".irpa"


@pytest.fixture(scope="session")
def digest_artifact(weights_artifact, tmp_path_factory) -> tuple[str, str, str]:
    """(vmfb, irpa, digest): weights_model compiled here with `aotc.weights_digest`, the SHA-256
    of the .irpa beside it, put into its metadata by hand (independent of the compiler)."""
    import shutil

    from iree.compiler import compile_str

    from aotc.tools.export import ExportOutput
    from aotc_runtime import artifact
    from aotc_runtime.weights import file_digest

    folder = tmp_path_factory.mktemp("digest")
    irpa = shutil.copy(weights_artifact[1], folder / "weights_model.irpa")
    digest = file_digest(irpa)
    text = ExportOutput.from_file(WEIGHTS_MODEL).text("cpu")
    text, n = re.subn(r"iree\.reflection = \{",
                      f'iree.reflection = {{"{artifact.KEY_WEIGHTS_DIGEST}" = "{digest}", ', text)
    assert n == 1
    vmfb = compile_str(text, input_type="stablehlo", extra_args=list(HOST_CPU_FLAGS))
    path = folder / "weights_model.vmfb"
    path.write_bytes(artifact.seal(vmfb))
    return str(path), str(irpa), digest
