"""Coverage-guided fuzzing (atheris) of the artifact metadata parser: what `aotc_runtime.load`
does with each function's `iree.reflection` dict before IREE runs anything.

An input is UTF-8 text: the `aotc.signature` JSON, optionally followed by NUL and the
`aotc.weights` JSON, NUL and the `aotc.weights_digest`. Property: parsing ends in metadata and a
Signature, or in an AotcError; never another exception, never a hang. A parsed signature is
usable (repr, leaves, unflatten: what `aotc inspect` and a call do with it) and re-encodes to
the same JSON after a round trip through its own writer (`Signature.encode`).

    python tests/fuzz/fuzz_signature.py -runs=100000      # seeds from tests/fuzz/corpus/...
    python tests/fuzz/fuzz_signature.py crash-1234abcd    # replay one input
"""

import json
import os
import sys
import types

import atheris

with atheris.instrument_imports(include=["aotc_runtime"]):
    from aotc_runtime import artifact, weights
    from aotc_runtime.errors import AotcError
    from aotc_runtime.module import Module
    from aotc_runtime.signature import Signature

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "corpus", "signature")
_REFLECTION = {artifact.KEY_FORMAT: str(artifact.FORMAT_VERSION), artifact.KEY_VERSION: "0.1.0",
               artifact.KEY_TARGET: "cpu", artifact.KEY_DRIVER: "local-task",
               artifact.KEY_ARCH: "x86_64"}
_MODULE = types.SimpleNamespace(source="fuzz.vmfb")  # what Module._parse_signature reads


def parse(text: str) -> tuple[dict, Signature]:
    """Module.__init__'s metadata steps for one function whose reflection carries text."""
    parts = text.split("\0")
    optional = dict(zip((artifact.KEY_WEIGHTS, artifact.KEY_WEIGHTS_DIGEST), parts[1:]))
    reflection = {**_REFLECTION, artifact.KEY_SIGNATURE: parts[0], **optional}
    meta = artifact.read_metadata(reflection, "f", _MODULE.source)
    signature = Module._parse_signature(_MODULE, meta["signature"], "f")
    weights.needed({"f": meta}, _MODULE.source)
    return meta, signature


def check_usable(signature: Signature) -> None:
    """What inspect and a call do with a parsed signature must not fail."""
    repr(signature)
    signature.arg_leaves()
    leaves = signature.result_leaves()
    signature.results.unflatten(iter(range(len(leaves))))
    encoded = signature.encode()
    again = Signature(json.loads(encoded)).encode()
    if again != encoded:
        raise AssertionError(f"round trip changed the signature:\n{encoded}\n{again}")


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        _, signature = parse(text)
    except AotcError:
        return
    check_usable(signature)


def main(argv: list[str]) -> None:
    """libFuzzer's flags pass through; without a corpus folder, new inputs go to a temporary
    folder and the seeds are read from tests/fuzz/corpus/signature (never written)."""
    if not any(os.path.isdir(a) or os.path.isfile(a) for a in argv[1:]):
        import tempfile

        argv = [*argv, tempfile.mkdtemp(prefix="aotc-fuzz-"), SEEDS]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main(sys.argv)
