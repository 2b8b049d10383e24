"""`aotc`: the command line. A thin argparse layer over aotc.tools.export and aotc_runtime.

    aotc compile models/mlp.py -o mlp.vmfb [--target cpu] [--cpu CPU] [--features F]
    aotc compile model.mlir --function main --spec x=f32[?,784] -o model.vmfb
    aotc bundle models/mlp.py --target aarch64 -o dist/
    aotc inspect mlp.vmfb [--json]
    aotc run mlp.vmfb predict --input params=@params.npz --input x=@x.npy [--output out.npz]
    aotc targets
    aotc grad model.mlir -o model_grad.mlir [--argnums 0,1] [--mode forward]   (cli_transforms)
    aotc vmap model.mlir -o model_vmap.mlir --in-axes 0,none --axis-size 32
    aotc --version

Exit status: 0 on success, 1 on an error in the user's files or inputs (one line on stderr),
2 on a usage error (argparse's message).
"""

import argparse
import ast
import io
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np

import aotc_runtime
from aotc.frontend.core.version import VERSION
from aotc.tools import cli_transforms
from aotc.tools.bundle import bundle
from aotc.tools.compile import write_atomic
from aotc.tools.export import EMIT_KINDS, ExportOutput, check_writable, default_output
from aotc.tools.targets import TARGETS, flags, runs_here
from aotc.tools.usage import UserError
from aotc_runtime import AotcError
from aotc_runtime.files import read_regular


def _version() -> str:
    try:
        iree = version("iree-base-compiler")
    except PackageNotFoundError:
        iree = "unknown"
    return f"aotc {VERSION} (IREE {iree})"


# ---- compile -------------------------------------------------------------------------------------


def _cmd_compile(args) -> int:
    if args.output == "-" and args.emit != "stablehlo":
        raise UserError("-o - prints the traced StableHLO text; add --emit stablehlo, or give "
                        "a file name such as -o model.vmfb for the binary artifact")
    output = args.output or default_output(args.model, args.emit)
    if output != "-":
        check_writable(output)
    flags(args.target, args.cpu, args.features)  # unknown target or misplaced --cpu: fail early
    if args.model.endswith(".mlir"):
        if output != "-" and os.path.abspath(output) == os.path.abspath(args.model):
            raise UserError(f"{output}: is the input file; give another -o path")
        exported = ExportOutput.from_mlir(args.model, args.function, args.spec)
    elif args.spec or args.function != "main":
        raise UserError("--function and --spec are for StableHLO (.mlir) input; a model.py "
                        "names its exports with @aotc.export")
    else:
        exported = ExportOutput.from_file(args.model)
    if output == "-":
        sys.stdout.write(exported.text(args.target))
        return 0
    written = exported.write(output, args.target, emit=args.emit, cpu=args.cpu,
                             features=args.features)
    _check_written(written)
    print(f"wrote {output} ({_size(os.path.getsize(output))}, target {args.target}, "
          f"{args.emit})")
    for path in written[1:]:
        print(f"wrote {path} ({_size(os.path.getsize(path))}, external weights)")
    return 0


def _check_written(paths: list[str]) -> None:
    """Every file that was reported written exists (a model that ended the process early, or
    a file removed under us, must not look like success)."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise UserError(f"{', '.join(missing)} missing after compiling; nothing usable was "
                        "written, run the command again")


def _cmd_bundle(args) -> int:
    for path in bundle(args.model, args.output, args.target, args.cpu, args.features,
                       args.runtime):
        print(f"wrote {path} ({_size(os.path.getsize(path))})")
    return 0


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024**2 else f"{n / 1024**2:.1f} MiB"


# ---- inspect -------------------------------------------------------------------------------------


def _cmd_inspect(args) -> int:
    m = aotc_runtime.inspect(args.artifact)
    if args.json:
        info = {"path": args.artifact, "size": m.size, "module": m.name, "format": m.format_version,
                "aotc_version": m.aotc_version, "target": m.target, "devices": m.device_count,
                "weights": {k: str(v) for k, v in m.weights.items()},
                "functions": {f: m.signature(f).to_json() for f in m.functions}}
        print(json.dumps(info, indent=2))
        return 0
    driver = m.driver
    print(f"{args.artifact}: aotc artifact, format {m.format_version}, made by aotc "
          f"{m.aotc_version}")
    print(f"  module   {m.name}")
    print(f"  target   {m.target} (IREE driver {driver})")
    print(f"  size     {_size(m.size)}, SHA-256 seal intact")
    if m.device_count > 1:
        meshes = sorted({str(m.signature(f).mesh) for f in m.functions
                         if m.signature(f).mesh is not None})
        print(f"  devices  {m.device_count} ({', '.join(meshes) or 'no mesh'}; device p runs "
              "mesh position p, row-major)")
    if m.weights:
        print(f"  weights  {m.weights_path} (external): "
              + ", ".join(f"{k} {v}" for k, v in m.weights.items()))
    for name in m.functions:
        sig = m.signature(name)
        print(f"\n{sig}")
        rows = [("in", n, s) for n, s in sig.arg_leaves()]
        rows += [("out", n, s) for n, s in sig.result_leaves()]
        width = max(len(n) for _, n, _ in rows)
        for direction, leaf, spec in rows:
            print(f"  {direction:<4}{leaf:<{width}}  {spec}")
    return 0


# ---- run -----------------------------------------------------------------------------------------


def _load_file(path: str):
    """The array (.npy) or arrays by name (.npz) in a regular file; UserError otherwise."""
    try:
        data = read_regular(path)
    except OSError as exc:
        raise UserError(f"cannot read input {path}: {exc.strerror or exc}") from None
    if not data:
        raise UserError(f"cannot read input {path}: the file is empty; give a .npy or .npz file "
                        "written by numpy.save / numpy.savez")
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {k: loaded[k] for k in loaded.files}
        return loaded
    except Exception as exc:  # noqa: BLE001 (numpy, zipfile and zlib raise many kinds)
        raise UserError(f"cannot read input {path}: not a valid .npy or .npz file "
                        f"({type(exc).__name__}: {exc}); write it with numpy.save / "
                        "numpy.savez") from None


def _fit_npz(node, arrays: dict, arg: str):
    """Build the argument's pytree from .npz entries keyed by path ('w1', 'layers/0/w')."""
    values = []
    for path, _ in node.leaves():
        key = "/".join(map(str, path))
        for candidate in (key, f"{arg}/{key}" if key else arg):
            if candidate in arrays:
                values.append(arrays[candidate])
                break
        else:
            if not path and len(arrays) == 1:
                values.append(next(iter(arrays.values())))
                continue
            raise UserError(f"input {arg}: the .npz has no array '{key or arg}' (it has "
                            f"{sorted(arrays)})")
    return node.unflatten(iter(values))


def _parse_value(text: str, node, arg: str):
    if text.startswith("@"):
        value = _load_file(text[1:])
        return _fit_npz(node, value, arg) if isinstance(value, dict) else value
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # {[]: 1}, -----1
        raise UserError(f"input {arg}: cannot parse '{text}'; give a Python literal such as "
                        "[[1.0, 2.0]] or a file as @x.npy / @params.npz") from None


def _parse_inputs(items: list[str], sig) -> dict:
    values: dict = {}
    position = 0
    for item in items:
        name, sep, text = item.partition("=")
        if not (sep and name in sig.arg_names):
            name, text = None, item
        if name is None:
            while position < len(sig.arg_names) and sig.arg_names[position] in values:
                position += 1
            if position == len(sig.arg_names):
                raise UserError(f"{sig.name}() takes {len(sig.arg_names)} inputs "
                                f"{list(sig.arg_names)}; got more")
            name = sig.arg_names[position]
        if name in values:
            raise UserError(f"input {name} given twice")
        values[name] = _parse_value(text, sig.args[sig.arg_names.index(name)], name)
    return values


def _save_outputs(path: str, leaves: list[tuple[str, np.ndarray]]) -> None:
    buffer = io.BytesIO()
    if path.endswith(".npy"):
        if len(leaves) != 1:
            raise UserError(f"{path}: the function returns {len(leaves)} arrays; save them "
                            "to a .npz file instead")
        np.save(buffer, leaves[0][1])
    elif path.endswith(".npz"):
        np.savez(buffer, **dict(leaves))
    else:
        raise UserError(f"{path}: outputs are saved as .npy (one array) or .npz")
    try:
        write_atomic(path, buffer.getvalue())
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _cmd_run(args) -> int:
    m = aotc_runtime.load(args.artifact, device=args.device, weights=args.weights)
    if args.function not in m.functions:
        raise UserError(f"{args.artifact} has no function '{args.function}'; it exports "
                        f"{', '.join(m.functions)}")
    sig = m.signature(args.function)
    result = m[args.function](**_parse_inputs(args.input, sig))
    flat = sig.results.flat_values(result)
    leaves = [(name, array) for (name, _), array in zip(sig.result_leaves(), flat)]
    if args.output:
        _save_outputs(args.output, leaves)
        print(f"wrote {args.output} ({len(leaves)} array{'s' * (len(leaves) != 1)})")
        return 0
    with np.printoptions(threshold=args.print_limit, edgeitems=3, precision=6):
        for name, array in leaves:
            print(f"{name}: {array.dtype.name}{list(array.shape)}\n{array}")
    return 0


# ---- targets -------------------------------------------------------------------------------------


def _cmd_targets(args) -> int:
    print(f"{'target':<9}{'driver':<12}{'here':<6}what it is: where it runs (here: how)")
    for t in TARGETS.values():
        status, detail = runs_here(t)
        print(f"{t.name:<9}{t.driver:<12}{status:<6}{t.description}: {t.runs_on}"
              + (f" (here: {detail})" if detail else ""))
    return 0


# ---- the parser ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aotc", description="Compile NumPy-style Python ahead of time with IREE, and run "
        "the artifacts.", epilog="Run `aotc COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print full error messages (IREE diagnostics) instead of one line")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser("compile", help="compile a model.py into one .vmfb artifact",
                            description="Import MODEL, trace every @aotc.export function and "
                            "write one artifact holding all of them (atomically).")
    p.add_argument("model", help="the model file (a .py file using @aotc.export, or "
                   "StableHLO text in a .mlir file, e.g. from jax.jit(f).lower(...).as_text())")
    p.add_argument("-o", "--output", help="output path (default: MODEL's name with .vmfb or "
                   ".mlir, in the current folder; '-' prints StableHLO to stdout)")
    p.add_argument("--function", default="main",
                   help="for a .mlir MODEL: the function to export (default: main)")
    p.add_argument("--spec", action="append", default=[], metavar="NAME=DTYPE[DIMS]",
                   help="for a .mlir MODEL: name and check each argument in order, e.g. "
                   "--spec x=f32[?,784] (? or a name: a dynamic dim); default arg0, arg1, ...")
    p.add_argument("--target", default="cpu", choices=list(TARGETS),
                   help="what to compile for (default: cpu, this machine); see `aotc targets`")
    p.add_argument("--emit", default="vmfb", choices=EMIT_KINDS,
                   help="vmfb: the deployable artifact (default); stablehlo: the traced MLIR")
    _cpu_options(p)
    p.set_defaults(handler=_cmd_compile)

    p = commands.add_parser("bundle", help="write a deploy folder that runs without Python",
                            description="Compile MODEL for a target into a folder with the "
                            ".vmfb, its weights (.irpa), a JSON description of every "
                            "function's inputs and outputs, and run.sh (iree-run-module).")
    p.add_argument("model", help="the model file (a .py file using @aotc.export)")
    p.add_argument("-o", "--output", default="dist", help="the folder (default: dist)")
    p.add_argument("--target", default="aarch64", choices=list(TARGETS),
                   help="what to compile for (default: aarch64); see `aotc targets`")
    p.add_argument("--runtime", metavar="PATH", help="also copy this iree-run-module binary "
                   "(or the one in this iree-base-runtime .whl) into the folder's bin/")
    _cpu_options(p)
    p.set_defaults(handler=_cmd_bundle)

    p = commands.add_parser("run", help="call a function of an artifact on inputs",
                            description="Load ARTIFACT with aotc_runtime and call FUNCTION.")
    p.add_argument("artifact", help="a .vmfb written by `aotc compile`")
    p.add_argument("function", help="the exported function to call")
    p.add_argument("-i", "--input", action="append", default=[], metavar="[NAME=]VALUE",
                   help="an argument: @file.npy, @file.npz (a pytree keyed by path, e.g. "
                   "'w1' or 'layers/0/w') or a Python literal ([[1, 2]], 3.5); by name or in "
                   "order; repeat for each argument")
    p.add_argument("-o", "--output", help="save results to a .npy (one array) or .npz file "
                   "instead of printing them")
    p.add_argument("--device", help="IREE device (default: the artifact's, e.g. local-task)")
    p.add_argument("--weights", metavar="FILE.irpa", help="external weights (default: the "
                   ".irpa beside the artifact)")
    p.add_argument("--print-limit", type=int, default=100, help=argparse.SUPPRESS)
    p.set_defaults(handler=_cmd_run)

    p = commands.add_parser("inspect", help="show an artifact's functions and signatures",
                            description="Check ARTIFACT and print its module, target, size and "
                            "each function's arguments and results (shapes, dtypes).")
    p.add_argument("artifact", help="a .vmfb written by `aotc compile`")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    p.set_defaults(handler=_cmd_inspect)

    p = commands.add_parser("targets", help="list compile targets",
                            description="List the --target presets and whether they run here.")
    p.set_defaults(handler=_cmd_targets)

    cli_transforms.register(commands)  # grad, vmap
    return parser


def _cpu_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpu", help="LLVM CPU for CPU targets, overriding the preset's "
                   "(e.g. cortex-a72, znver4, sifive-u74)")
    p.add_argument("--features", help="LLVM CPU features for CPU targets, overriding the "
                   "preset's (e.g. +neon,+dotprod)")


def _one_line(exc: BaseException) -> str:
    """The message's first line, plus the first IREE 'error:' line when there is one."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) == 1:
        return lines[0]
    detail = next((ln for ln in lines[1:] if "error:" in ln), lines[1])
    return f"{lines[0].rstrip(':')}: {detail} (aotc -v shows more)"


def main(argv: list[str] | None = None) -> int:
    """Run the `aotc` command line; returns the exit status.

    Example:
        >>> main(["compile", "models/mlp.py", "-o", "mlp.vmfb"])
        0
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("aotc: error: give a command: compile, bundle, run, inspect, targets, grad or "
              "vmap", file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    except AotcError as exc:
        message = str(exc) if args.verbose else _one_line(exc)
        print(f"aotc: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `aotc inspect m.vmfb | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
