"""`aotc bundle`: a self-contained deploy folder that runs with IREE's native tools, no Python.

    aotc bundle models/mlp.py --target aarch64 -o dist/
    scp -r dist board: && ssh board 'cd dist && ./run.sh classify x.npy'

The folder holds NAME.vmfb, NAME.irpa (when exports use aotc.Param), NAME.json (every
function's inputs and outputs in call order: names, shapes with null for dynamic dims,
dtypes, output files) and run.sh, a POSIX shell script that calls `iree-run-module` with one
.npy file per input and writes one .npy file per output. With `--runtime` the bundle also
carries an iree-run-module binary for the target (from IREE's runtime wheel for that CPU).
A sharded artifact runs on a mesh of N devices: run.sh passes one --device flag per device,
and each sharded argument or result is N files, the blocks of devices 0..N-1 (NAME.json names
each block's device, index and global array).
"""

import json
import os
import re
import shlex
import zipfile

import iree.runtime as rt

from aotc.frontend.core.version import VERSION
from aotc.tools.compile import write_atomic
from aotc.tools.export import Artifact, ExportOutput, OutputError, weights_path
from aotc.tools.targets import ELF_MACHINE, Target, get_target
from aotc.tools.targets import flags as target_flags
from aotc_runtime import artifact
from aotc_runtime import mesh as meshes
from aotc_runtime.devices import INSTANCE
from aotc_runtime.signature import Signature

RUNNER = "iree-run-module"
_WHEEL_TOOL = f"iree/_runtime_libs/{RUNNER}"


def bundle(model: str, out_dir: str, target: str = "aarch64", cpu: str | None = None,
           features: str | None = None, runtime: str | None = None) -> list[str]:
    """Compile model for target into out_dir with run.sh and a JSON description; returns the
    files written.

    runtime: an iree-run-module binary, or an iree-base-runtime wheel for the target's CPU,
    to copy into out_dir/bin/.

    Example:
        >>> bundle("models/mlp.py", "dist", target="aarch64")
        ['dist/mlp.vmfb', 'dist/mlp.irpa', 'dist/mlp.json', 'dist/run.sh']
    """
    preset = get_target(target)
    target_flags(target, cpu, features)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir}: exists and is not a folder")
    binary = _runtime_binary(runtime, preset) if runtime else None
    exported = ExportOutput.from_file(model)
    name = exported.name
    built = exported.compile(target, cpu=cpu, features=features)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    vmfb_path = os.path.join(out_dir, f"{name}.vmfb")
    written = built.write(vmfb_path)
    description = describe(built, name, preset)
    files = [(f"{name}.json", to_json(description), 0o644),
             ("run.sh", run_script(description), 0o755)]
    for filename, text, mode in files:
        path = os.path.join(out_dir, filename)
        _write_text(path, text, mode)
        written.append(path)
    if binary is not None:
        path = os.path.join(out_dir, "bin", RUNNER)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(binary)
        os.chmod(path, 0o755)
        written.append(path)
    return written


def _write_text(path: str, text: str, mode: int) -> None:
    try:
        write_atomic(path, text.encode())
        os.chmod(path, mode)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def describe(built: Artifact, name: str, preset: Target) -> dict:
    """The JSON description of a bundle: module, target, weights and every function's I/O."""

    functions = {}
    metadata = read_metadata(built.vmfb)
    for fn, meta in sorted(metadata.items()):
        sig = Signature(meta["signature"])
        inputs = [leaf for arg, node in zip(sig.arg_names, sig.args)
                  for path, spec in node.leaves() for leaf in _leaves(arg, path, spec, sig.mesh)]
        outputs = [leaf for path, spec in sig.results.leaves()
                   for leaf in _leaves("", path, spec, sig.mesh)]
        for out in outputs:
            out["file"] = f"{fn}.{_file_part(out['name'])}.npy"
        functions[fn] = {"inputs": inputs, "outputs": outputs}
        if sig.mesh is not None:
            functions[fn]["mesh"] = sig.mesh.to_json()
    weights = None
    if built.weights:
        weights = {"file": os.path.basename(weights_path(f"{name}.vmfb")),
                   "scope": artifact.WEIGHTS_SCOPE,
                   "entries": {k: {"shape": list(v.shape), "dtype": v.dtype.name}
                               for k, v in built.weights.items()}}
    devices = max([m["devices"] for m in metadata.values()], default=1)
    return {"module": name, "vmfb": f"{name}.vmfb", "target": preset.name,
            "device": preset.driver, "devices": devices, "arch": preset.arch,
            "aotc_version": VERSION,
            "weights": weights, "functions": functions,
            "usage": "./run.sh FUNCTION INPUT.npy... (inputs in the order listed; outputs go "
                     "to $OUT_DIR, default ./out)"}


def to_json(description: dict) -> str:
    """Indented JSON with short lists (shapes) kept on one line."""
    text = json.dumps(description, indent=2)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


def read_metadata(vmfb: bytes) -> dict:
    """Every exported function's aotc metadata, read without loading the code (any target)."""
    module = rt.VmModule.copy_buffer(INSTANCE, vmfb)
    return {fn: artifact.read_metadata(dict(module.lookup_function(fn).reflection), fn, "bundle")
            for fn in module.function_names if not fn.startswith("__")}


def _leaves(arg: str, path: tuple, spec, mesh) -> list[dict]:
    """The iree-run-module inputs or outputs of one leaf: the array, or for a sharded leaf the
    block of each device in order (name 'x.block<p>', the block's shape and its index)."""
    name = "/".join([arg, *map(str, path)] if arg else map(str, path)) or "result"
    if spec.sharding is None:
        leaf = {"name": name, "shape": list(spec.shape), "dtype": spec.dtype.name}
        return [leaf if mesh is None else {**leaf, "device": 0}]
    block = list(meshes.block_shape(spec.shape, spec.sharding, mesh))
    return [{"name": f"{name}.block{p}", "shape": block, "dtype": spec.dtype.name, "device": p,
             "block": list(meshes.block_index(p, spec.sharding, mesh)),
             "of": {"name": name, "shape": list(spec.shape),
                    "sharding": meshes.spec_text(spec.sharding)}}
            for p in range(mesh.size)]


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace("/", "."))


def _spec_text(leaf: dict) -> str:
    dims = ",".join("?" if d is None else str(d) for d in leaf["shape"])
    return f"{leaf['name']}:{leaf['dtype']}[{dims}]"


def _comment(text: str) -> str:
    """text for a run.sh comment line: no newline or other control character can end it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _plain(word: str) -> str:
    """word, which run.sh writes inside double quotes: only letters, digits, '_', '.', '-'."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", word):
        raise OutputError(f"cannot write the name {word!r} into run.sh; use letters, digits, "
                          "'_', '.' and '-' only")
    return word


def run_script(description: dict) -> str:
    """run.sh for a bundle description: POSIX sh around iree-run-module.

    Every value from the description is shell-quoted (shlex.quote) where the shell reads it
    and escaped in comments, so no name in a model can inject a command.
    """
    module, device = description["module"], description["device"]
    devices = description.get("devices", 1)
    docs, cases = [], []
    for fn, io in description["functions"].items():
        ins = " ".join(_spec_text(leaf) for leaf in io["inputs"]) or "(no inputs)"
        outs = " ".join(_spec_text(leaf) for leaf in io["outputs"])
        docs.append(_comment(f"#   {fn} {ins}") + "\n" + _comment(f"#     -> {outs}"))
        files = shlex.quote(" ".join(leaf["file"] for leaf in io["outputs"]))
        cases.append(f'  {shlex.quote(fn)}) inputs={len(io["inputs"])}; outputs={files} ;;')
    weights = description["weights"]
    parameters = ""
    if weights:
        parameters = (f' --parameters={_plain(weights["scope"])}="$here/'
                      f'{_plain(weights["file"])}"')
    names = " ".join(description["functions"])
    vmfb = _plain(f"{module}.vmfb")
    return _RUN_SH.format(module=_comment(module), target=_comment(description["target"]),
                          docs="\n".join(docs), cases="\n".join(cases),
                          names=shlex.quote(f"functions: {names}"),
                          vmfb=vmfb, vmfb_text=shlex.quote(f"{module}.vmfb;"),
                          devices=" ".join([f"--device={shlex.quote(device)}"] * devices),
                          parameters=parameters, runner=RUNNER)


_RUN_SH = """#!/bin/sh
# Run {module}.vmfb (aotc target {target}) with IREE's {runner}; no Python needed.
#
#   ./run.sh FUNCTION INPUT.npy...
#
# Inputs are .npy files, one per array, in this order; results are written to
# $OUT_DIR (default ./out) as FUNCTION.OUTPUT.npy. Functions ({module}.json has the same):
{docs}
#
# {runner}: $IREE_RUN_MODULE if set, else bin/{runner} beside this script, else the
# one on PATH (pip install iree-base-runtime puts it there). $IREE_RUNNER, if set, prefixes
# the command, e.g. IREE_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" on an x86 machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,/^set -eu$/p' "$0" | sed '$d' | sed 's/^# \\{{0,1\\}}//' >&2
  exit 2
fi
fn=$1
shift
case "$fn" in
{cases}
  *) echo "run.sh: no function '$fn' in" {vmfb_text} {names} >&2; exit 2 ;;
esac
if [ $# -ne "$inputs" ]; then
  echo "run.sh: $fn takes $inputs input file(s) (.npy), got $#; run ./run.sh --help" >&2
  exit 2
fi
for f in "$@"; do
  if [ ! -f "$f" ]; then echo "run.sh: no such input file: $f" >&2; exit 2; fi
  set -- "$@" "--input=@$f"
  shift
done
out=${{OUT_DIR:-out}}
mkdir -p "$out"
for f in $outputs; do
  set -- "$@" "--output=@$out/$f"
done
bin=${{IREE_RUN_MODULE:-}}
if [ -z "$bin" ]; then
  if [ -x "$here/bin/{runner}" ]; then
    bin=$here/bin/{runner}
  elif command -v {runner} >/dev/null 2>&1; then
    bin={runner}
  else
    echo "run.sh: {runner} not found; install IREE's runtime for this device" \\
      "(pip install iree-base-runtime) or set IREE_RUN_MODULE" >&2
    exit 127
  fi
fi
# shellcheck disable=SC2086  # IREE_RUNNER is a command prefix: split it into words
exec ${{IREE_RUNNER:-}} "$bin" --module="$here/{vmfb}" {devices}{parameters} \\
  --function="$fn" "$@"
"""


def _runtime_binary(path: str, preset: Target) -> bytes:
    """The iree-run-module binary at path, or inside the iree-base-runtime wheel at path."""
    if not os.path.isfile(path):
        raise OutputError(f"--runtime {path}: no such file; give an {RUNNER} binary or an "
                          "iree-base-runtime wheel (.whl) for the target's CPU")
    if path.endswith(".whl"):
        try:
            with zipfile.ZipFile(path) as wheel:
                data = wheel.read(_WHEEL_TOOL)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise OutputError(f"--runtime {path}: not an iree-base-runtime wheel with "
                              f"{_WHEEL_TOOL} ({exc})") from None
    else:
        with open(path, "rb") as f:
            data = f.read()
    machine = elf_machine(data)
    expected = ELF_MACHINE.get(preset.arch or "")
    if expected is not None and machine != expected:
        names = {v: k for k, v in ELF_MACHINE.items()}
        what = (f"a program for {names.get(machine, f'ELF machine {machine}')}"
                if machine is not None else "not an ELF program")
        raise OutputError(f"--runtime {path}: {what}, but target '{preset.name}' runs on "
                          f"{preset.arch}")
    return data


def elf_machine(data: bytes) -> int | None:
    """The e_machine of an ELF file's header (62 x86-64, 183 aarch64, 243 riscv), or None."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None
    order = "little" if data[5] == 1 else "big"
    return int.from_bytes(data[18:20], order)


def embedded_machines(vmfb: bytes) -> list[int]:
    """The ELF machine types of the native code a .vmfb embeds (one per executable)."""
    import io

    machines = []
    with zipfile.ZipFile(io.BytesIO(vmfb)) as archive:
        for info in archive.infolist():
            machine = elf_machine(archive.read(info))
            if machine is not None:
                machines.append(machine)
    return machines

