"""Coverage-guided fuzzing (atheris) of `aotc run`'s `--input NAME=VALUE` parsing: Python
literals and `@file.npy` / `@file.npz`, then the signature check every call makes.

An input's first byte picks what the rest is: 0, the --input arguments themselves, separated
by NUL (an argv string cannot hold one); 1 or 2, an argument index byte and the bytes of a .npy
or .npz file that `--input ARG=@x.npy` / `@x.npz` names. Property: parsing and binding end in
arrays or in an AotcError (the CLI's UserError, the runtime's InputError) whose one-line message
`aotc run` prints; never another exception (a traceback), never a hang.

    python tests/fuzz/fuzz_cli_inputs.py -runs=100000     # seeds from tests/fuzz/corpus/cli
    python tests/fuzz/fuzz_cli_inputs.py crash-1234abcd   # replay one input
"""

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports(include=["aotc.tools.cli", "aotc_runtime.signature"]):
    from aotc.tools import cli
    from aotc_runtime.errors import AotcError
    from aotc_runtime.signature import Signature

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "corpus", "cli")
_F32 = '"dtype":"float32"'
# f(params: {'b': float32[3], 'w': float32[4, 3]}, x: float32[n, 4], k: int32[],
#   xs: [float32[n, ?], bool[?]]) -> float32[n, 3]
SIGNATURE = Signature({
    "name": "f",
    "args": [
        {"name": "params", "tree": {"kind": "dict", "keys": ["b", "w"], "children": [
            {"kind": "array", "shape": [3], "dtype": "float32"},
            {"kind": "array", "shape": [4, 3], "dtype": "float32"}]}},
        {"name": "x", "tree": {"kind": "array", "shape": ["n", 4], "dtype": "float32"}},
        {"name": "k", "tree": {"kind": "array", "shape": [], "dtype": "int32"}},
        {"name": "xs", "tree": {"kind": "list", "children": [
            {"kind": "array", "shape": ["n", None], "dtype": "float32"},
            {"kind": "array", "shape": [None], "dtype": "bool"}]}}],
    "results": {"kind": "array", "shape": ["n", 3], "dtype": "float32"},
})
FILES = ("x.npy", "x.npz")  # in the working folder, a temporary one


def inputs(data: bytes) -> list[str]:
    """The --input arguments an input stands for (writing the file it names, if any)."""
    for name in FILES:
        if os.path.exists(name):
            os.unlink(name)
    mode, payload = data[0] % 3, data[1:]
    if mode == 0:
        items = payload.decode("utf-8", "surrogateescape").split("\0")  # as Python reads argv
        # paths stay inside the working folder: no absolute paths, no '..' out of it
        return [item.replace("/", "_") if "@" in item else item for item in items]
    if not payload:
        return []
    with open(FILES[mode - 1], "wb") as f:
        f.write(payload[1:])
    return [f"{SIGNATURE.arg_names[payload[0] % 4]}=@{FILES[mode - 1]}"]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    try:
        values = cli._parse_inputs(inputs(data), SIGNATURE)
        SIGNATURE.bind((), values)
    except AotcError as exc:
        if not cli._one_line(exc):
            raise AssertionError(f"empty message from {exc!r}") from None


def main(argv: list[str]) -> None:
    """libFuzzer's flags pass through; without a corpus folder, new inputs go to a temporary
    folder and the seeds are read from tests/fuzz/corpus/cli (never written)."""
    argv = [*argv]
    for i, arg in enumerate(argv[1:], 1):  # paths given relative to the caller's folder
        if os.path.exists(arg):
            argv[i] = os.path.abspath(arg)
    if not any(os.path.exists(a) for a in argv[1:]):
        argv += [tempfile.mkdtemp(prefix="aotc-fuzz-"), SEEDS]
    if not any(a.startswith("-artifact_prefix=") for a in argv):
        argv.append(f"-artifact_prefix={os.getcwd()}/")
    os.chdir(tempfile.mkdtemp(prefix="aotc-fuzz-files-"))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
