"""`aotc grad` and `aotc vmap`: transform a StableHLO file, such as the text of
`jax.jit(f).lower(*args).as_text()`, with aotc's passes. Thin argparse commands over
aotc.differentiate and aotc.vectorize; the written file holds the original functions plus the
new one.

    aotc grad model.mlir -o model_grad.mlir [--function main] [--argnums 0,1] [--mode forward]
              [--max-steps N [--checkpoint sqrt]]
    aotc vmap model.mlir -o model_vmap.mlir --in-axes 0,none --axis-size 32 [--out-axes 0]

Exit status as for every aotc command: 0 on success, 1 on an error in the file or the options'
values (one line naming file:line, the function or the argument), 2 on a usage error.
"""

import argparse
import os
import re
import sys

from aotc.frontend.core import shardy
from aotc.frontend.core.errors import AotcError
from aotc.frontend.core.ir import functions, ir, new_context
from aotc.frontend.transforms.imported import differentiate, vectorize
from aotc.tools.compile import write_atomic
from aotc.tools.usage import UserError


def register(commands) -> None:
    """Add the grad and vmap subcommands to the `aotc` parser's subparsers."""
    p = commands.add_parser(
        "grad", help="add the derivative of a function to a StableHLO file",
        description="Read a StableHLO module (e.g. jax.jit(f).lower(...).as_text()) and add the "
        "derivative of FUNCTION. Reverse mode adds @FUNCTION_vjp(args..., output "
        "cotangents...) -> (outputs..., cotangents of args[ARGNUMS]...); forward mode adds "
        "@FUNCTION_jvp(args..., tangents of args[ARGNUMS]...) -> (outputs..., output "
        "tangents...).")
    _common(p, "grad")
    p.add_argument("--argnums", type=_int_list, default=(0,), metavar="I[,J...]",
                   help="the arguments to differentiate, by position (default: 0)")
    p.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                   help="reverse: a VJP (gradients; default); forward: a JVP")
    p.add_argument("--max-steps", type=_positive, default=None, metavar="N",
                   help="bound every uncounted while loop (JAX's while_loop) to N steps so "
                   "reverse mode can go through it; a loop needing more stops after N")
    p.add_argument("--checkpoint", choices=("all", "sqrt"), default="all",
                   help="with --max-steps: keep every step's carry (all) or one per "
                   "sqrt(N) steps, recomputing the rest (sqrt)")
    p.set_defaults(handler=_cmd_grad)

    p = commands.add_parser(
        "vmap", help="add the batched form of a function to a StableHLO file",
        description="Read a StableHLO module written for one example and add "
        "@FUNCTION_vmap, which maps FUNCTION over a new axis of size AXIS_SIZE.")
    _common(p, "vmap")
    p.add_argument("--in-axes", type=_axes, default=(0,), metavar="A[,B...]",
                   help="per argument, where its mapped axis goes (an int, negative counts from "
                   "the end; write --in-axes=-1,none) or 'none' for an argument shared by all "
                   "examples; one value applies to every argument (default: 0)")
    p.add_argument("--axis-size", type=_positive, required=True, metavar="N",
                   help="the size of the mapped axis (the batch size)")
    p.add_argument("--out-axes", type=_axes, default=(0,), metavar="A[,B...]",
                   help="where each output's mapped axis goes, or 'none' for an output that "
                   "does not depend on it; one value applies to every output (default: 0)")
    p.set_defaults(handler=_cmd_vmap)


def _common(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("input", help="a StableHLO .mlir file")
    p.add_argument("-o", "--output", help=f"output path (default: INPUT's name with _{command}"
                   ".mlir, in the current folder; '-' prints the module to stdout)")
    p.add_argument("--function", default="main",
                   help="the function to transform (default: main)")


# ---- option values -------------------------------------------------------------------------------


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, such as 0,1; got '{text}'") from None


def _axes(text: str) -> tuple[int | None, ...]:
    axes = []
    for item in text.split(","):
        item = item.strip()
        if item.lower() == "none":
            axes.append(None)
            continue
        try:
            axes.append(int(item))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected integers or 'none' separated by commas, such as 0,none; got "
                f"'{text}'") from None
    return tuple(axes)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got '{text}'")
    return value


# ---- reading and writing modules -----------------------------------------------------------------


def read_module(path: str):
    """Parse the StableHLO file at path; errors name path:line:col."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not a file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as MLIR text ({exc})") from None
    text = shardy.importable(text, UserError, f"{path}:")  # drops JAX's LAPACK sharding rules
    with new_context():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise UserError(_parse_error(path, exc)) from None
    if not functions(module):
        raise UserError(f"{path}: the module has no functions")
    return module


def _parse_error(path: str, exc: Exception) -> str:
    detail = next((ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith("error:")),
                  str(exc))
    detail = detail.removeprefix("error:").strip()
    match = re.match(r'"[^"]*":(\d+):(\d+):\s*(.*)', detail)
    if match:
        line, col, message = match.groups()
        return f"{path}:{line}:{col}: not valid StableHLO: {message}"
    return f"{path}: not valid StableHLO: {detail}"


def _check_function(module, path: str, name: str):
    fns = functions(module)
    if name not in fns:
        raise UserError(f"{path}: no function '{name}'; the module has "
                        f"{', '.join('@' + f for f in fns)} (choose one with --function)")
    return fns[name]


def _transform(path: str, function: str, apply) -> tuple:
    """Run apply(module) on the module at path; returns (module, name of the added function)."""
    module = read_module(path)
    _check_function(module, path, function)
    before = set(functions(module))
    try:
        apply(module)
    except AotcError as exc:
        raise UserError(f"{path}: @{function}: {exc}") from None
    except (TypeError, ValueError) as exc:  # an op or type the passes cannot handle
        raise UserError(f"{path}: @{function}: cannot transform: {exc}") from None
    added = [(name, fn) for name, fn in functions(module).items() if name not in before]
    public = [name for name, fn in added if "sym_visibility" not in fn.attributes]
    return module, (public or [name for name, _ in added])[-1]


def _write(module, added: str, args, command: str) -> int:
    text = module.operation.get_asm(enable_debug_info=False)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    output = args.output or f"{os.path.splitext(os.path.basename(args.input))[0]}_{command}.mlir"
    if os.path.isdir(output):
        raise UserError(f"{output}: is a directory; give a file name")
    try:
        write_atomic(output, text.encode())
    except OSError as exc:
        raise UserError(f"{output}: cannot write ({exc.strerror or exc}); nothing was "
                        "written") from None
    fn_type = functions(module)[added].attributes["function_type"]
    print(f"wrote {output}: added @{added}{ir.TypeAttr(fn_type).value}")
    return 0


# ---- the commands --------------------------------------------------------------------------------


def _cmd_grad(args) -> int:
    module, added = _transform(args.input, args.function, lambda m: differentiate(
        m, function=args.function, argnums=args.argnums, mode=args.mode,
        max_steps=args.max_steps, checkpoint=args.checkpoint))
    return _write(module, added, args, "grad")


def _cmd_vmap(args) -> int:
    def apply(module):
        in_axes = args.in_axes[0] if len(args.in_axes) == 1 else list(args.in_axes)
        out_axes = args.out_axes[0] if len(args.out_axes) == 1 else list(args.out_axes)
        vectorize(module, function=args.function, in_axes=in_axes, axis_size=args.axis_size,
                  out_axes=out_axes)

    module, added = _transform(args.input, args.function, apply)
    return _write(module, added, args, "vmap")
