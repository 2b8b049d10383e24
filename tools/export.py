"""The model.py convention: `@aotc.export` marks functions; `aotc compile model.py` builds one
artifact holding all of them.

    # model.py
    import aotc, aotc.numpy as anp

    @aotc.export(w=aotc.ShapeSpec((4, 3)), x=aotc.ShapeSpec((None, 4)))
    def predict(w, x):
        return anp.tanh(x @ w)

`compile_file("model.py", "model.vmfb")` imports model.py, traces every export into one
StableHLO module (numpy arrays the functions close over become constants), attaches each
function's signature as `iree.reflection` metadata, compiles it with IREE, seals it (see
aotc_runtime.artifact) and writes it atomically. Arguments given as `aotc.Param(weights)` are
bound to external weights that go to model.irpa beside it (see aotc.tools.params).
"""

import importlib.util
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import AotcError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.version import VERSION
from aotc.frontend.trace.lower import ShapeSpec, check_dims, spec_of
from aotc.frontend.trace.tracer import trace
from aotc.tools import params as external
from aotc.tools.params import Param
from aotc_runtime import artifact
from aotc_runtime.module import RESERVED_NAMES

EMIT_KINDS = ("vmfb", "stablehlo")
_SUFFIX = {"vmfb": ".vmfb", "stablehlo": ".mlir"}


class ModelError(AotcError):
    """A model file cannot be imported or exports nothing usable; names file:line."""


class OutputError(AotcError):
    """The output path cannot be written; nothing was written."""


@dataclass
class Export:
    """One `@aotc.export`: the function, its exported name, and the spec of every argument."""

    fn: Callable
    name: str
    arg_names: tuple
    arg_specs: tuple  # one pytree of ShapeSpecs / example arrays per traced argument
    static: dict  # parameters left to their Python defaults
    where: str  # file:line of the decorator


_COLLECTING: list[list[Export]] = []


def export(*specs, name: str | None = None, **named_specs) -> Callable:
    """Mark a function for `aotc compile`: give every argument a spec, by position or name.

    A spec is a pytree (dict, list, tuple) of `aotc.ShapeSpec`s (None = dynamic dimension) or
    example arrays (only their shape and dtype count). Parameters with defaults may be left out
    and keep their Python values. The function itself is returned unchanged.

    Example:
        >>> @aotc.export(params=PARAMS_SPEC, x=aotc.ShapeSpec((None, 784), "float32"))
        ... def predict(params, x):
        ...     return anp.tanh(x @ params["w"] + params["b"])
    """
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"

    def decorate(fn: Callable) -> Callable:
        exp = _make_export(fn, specs, named_specs, name, where)
        if _COLLECTING:
            found = _COLLECTING[-1]
            if any(e.name == exp.name for e in found):
                raise ModelError(f"{where}: a function named '{exp.name}' is already exported; "
                                 "pass name='...' to export it twice")
            found.append(exp)
        return fn

    if len(specs) == 1 and callable(specs[0]) and not named_specs and inspect.isfunction(specs[0]):
        raise ModelError(f"{where}: write @aotc.export(...) with the argument specs, e.g. "
                         "@aotc.export(x=aotc.ShapeSpec((None, 4)))")
    return decorate


def _make_export(fn, specs, named_specs, name, where) -> Export:
    fn_name = name or getattr(fn, "__name__", "")
    if not fn_name.isidentifier() or fn_name.startswith("_"):
        raise ModelError(f"{where}: cannot export '{fn_name}': exported names must be Python "
                         "identifiers not starting with '_'; pass name='...'")
    if fn_name in RESERVED_NAMES:
        raise ModelError(f"{where}: cannot export '{fn_name}': aotc_runtime modules have an "
                         f"attribute of that name; pass name='...'")
    try:
        bound = inspect.signature(fn).bind_partial(*specs, **named_specs)
    except TypeError as exc:
        raise ModelError(f"{where}: @aotc.export specs do not fit {fn_name}(): {exc}") from None
    static = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ModelError(f"{where}: cannot export {fn_name}(): *{param.name} arguments "
                             "have no fixed signature; name each argument")
        if param.name not in bound.arguments:
            if param.default is param.empty:
                raise ModelError(f"{where}: @aotc.export for {fn_name}() has no spec for "
                                 f"argument '{param.name}'")
            static[param.name] = param.default
    return Export(fn, fn_name, tuple(bound.arguments), tuple(bound.arguments.values()), static,
                  where)


# ---- importing a model file ----------------------------------------------------------------------


def load_model(path: str) -> list[Export]:
    """Import the model file at path and return its exports, in definition order.

    Raises ModelError naming file:line for a missing file, a syntax error, an exception at
    import, or a file that exports nothing.
    """
    if not os.path.exists(path):
        raise ModelError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ModelError(f"{path}: not a Python file")
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise ModelError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise ModelError(f"{path}:1: cannot compile: {exc}") from None
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    module_name = f"_aotc_model_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    found: list[Export] = []
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # the model may import helpers beside it
    sys.modules[module_name] = module
    _COLLECTING.append(found)
    try:
        exec(code, module.__dict__)
    except AotcError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 (any failure of the user's file)
        line = _line_in(exc, path)
        raise ModelError(f"{path}:{line}: {type(exc).__name__} while importing: {exc}") from None
    finally:
        _COLLECTING.pop()
        sys.path.remove(folder)
        sys.modules.pop(module_name, None)
    if not found:
        raise ModelError(f"{path}:1: exports nothing; mark functions with "
                         "@aotc.export(x=aotc.ShapeSpec(...)) to compile them")
    return found


def _line_in(exc: BaseException, path: str) -> int:
    """The line of the innermost traceback frame in path (else of the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = os.path.abspath(path)
    inside = [f for f in frames if os.path.abspath(f.filename) == target]
    return (inside or frames)[-1].lineno if frames else 1


# ---- tracing exports into one module with signature metadata -------------------------------------


def build_module(exports: list[Export], module_name: str, target: str = "cpu") -> ir.Module:
    """Trace every export into one StableHLO module named module_name, with metadata."""
    from aotc.tools.targets import get_target

    preset = get_target(target)
    module = None
    signatures = {}
    for exp in exports:
        traced = _trace(exp, module)
        module = traced.module
        signatures[exp.name] = _signature_json(exp, traced)
    weights = {key: {"shape": list(v.shape), "dtype": v.dtype.name}
               for key, v in external_weights(exports).items()}
    with module.context:
        module.operation.attributes["sym_name"] = ir.StringAttr.get(module_name)
        for op in module.body.operations:
            if "sym_name" not in op.attributes:
                continue
            fn = ir.StringAttr(op.attributes["sym_name"]).value
            if fn not in signatures:
                continue  # a private helper that a transform (grad, vmap) staged, or a global
            metadata = {
                artifact.KEY_FORMAT: str(artifact.FORMAT_VERSION),
                artifact.KEY_VERSION: VERSION,
                artifact.KEY_TARGET: target,
                artifact.KEY_DRIVER: preset.driver,
                artifact.KEY_ARCH: preset.arch or "",
                artifact.KEY_SIGNATURE: json.dumps(signatures[fn], separators=(",", ":")),
            }
            if weights:
                metadata[artifact.KEY_WEIGHTS] = json.dumps(weights, separators=(",", ":"))
            op.attributes["iree.reflection"] = ir.DictAttr.get(
                {k: ir.StringAttr.get(v) for k, v in metadata.items()})
    return module


def external_weights(exports: list[Export]) -> dict[str, np.ndarray]:
    """Every aotc.Param array of the exports, by .irpa key (shared keys must agree)."""
    found: dict[str, np.ndarray] = {}
    for exp in exports:
        for arg, spec in zip(exp.arg_names, exp.arg_specs):
            if isinstance(spec, Param):
                external.merge(found, external.leaves(spec, arg, exp.where), exp.where)
    return found


def _leaf_spec(leaf) -> ShapeSpec:
    spec = spec_of(leaf)
    return ShapeSpec(spec.dims, spec.dtype)  # an exported argument is a real array: strong type


def _trace(exp: Export, module):
    """Trace exp into module; arguments marked aotc.Param load from globals (see params.py)."""
    specs, keys = [], {}
    for arg, spec in zip(exp.arg_names, exp.arg_specs):
        if isinstance(spec, Param):
            for weight in external.leaves(spec, arg, exp.where):
                keys[len(specs)] = weight.key
                specs.append(ShapeSpec(weight.value.shape, weight.value.dtype))
        else:
            specs.extend(_leaf_spec(leaf) for leaf in tree.flatten(spec)[0])
    in_tree = tree.structure(tuple(_param_stub(s) for s in exp.arg_specs))

    def call(*args):
        return exp.fn(**dict(zip(exp.arg_names, args)), **exp.static)

    impl = f"{exp.name}__aotc_impl" if keys else exp.name
    try:
        traced = trace(call, specs, in_tree, impl, module=module, private=bool(keys))
        check_dims(traced, specs, exp.arg_names)
    except AotcError:
        raise
    except Exception as exc:  # noqa: BLE001 (any failure of the user's function)
        line = _line_in(exc, exp.fn.__code__.co_filename) if hasattr(exp.fn, "__code__") else 0
        where = f"{exp.fn.__code__.co_filename}:{line}" if line else exp.where
        raise ModelError(f"{where}: {type(exc).__name__} while tracing {exp.name}(): {exc}") \
            from None
    if keys:
        file, _, line = exp.where.rpartition(":")
        with traced.module.context:
            location = ir.Location.file(file, int(line), 0)
        external.bind_globals(traced.module, impl, exp.name, keys, location)
        traced.name = exp.name
    return traced


def _param_stub(spec):
    """A Param's values stand in for its pytree structure (leaves are its arrays)."""
    return spec.value if isinstance(spec, Param) else spec


def _tree_json(treedef: tree.TreeDef, leaf_specs, where: str) -> dict:
    """The JSON form of a pytree (see aotc_runtime.signature), consuming leaf_specs in order."""
    kind = treedef.kind
    if kind is None:
        spec = next(leaf_specs)
        return {"kind": "array", "shape": list(spec.dims), "dtype": spec.dtype.name}
    if kind is type(None):
        return {"kind": "none"}
    children = [_tree_json(c, leaf_specs, where) for c in treedef.children]
    if kind is dict:
        if not all(isinstance(k, (str, int)) for k in treedef.aux):
            raise ModelError(f"{where}: dict keys in exported pytrees must be str or int, got "
                             f"{list(treedef.aux)}")
        return {"kind": "dict", "keys": list(treedef.aux), "children": children}
    if kind in (tuple, list):
        return {"kind": kind.__name__, "children": children}
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        return {"kind": "namedtuple", "name": kind.__name__, "fields": list(kind._fields),
                "children": children}
    raise ModelError(f"{where}: an exported pytree contains a {kind.__name__}, which an artifact "
                     "cannot describe; use dicts, lists, tuples or namedtuples")


def _signature_json(exp: Export, traced) -> dict:
    args = []
    for name, value in zip(exp.arg_names, exp.arg_specs):
        if isinstance(value, Param):
            continue  # bound from the weights file, not an argument of the exported function
        specs = iter([_leaf_spec(leaf) for leaf in tree.flatten(value)[0]])
        args.append({"name": name, "tree": _tree_json(tree.structure(value), specs, exp.where)})
    fn_op = next(op for op in traced.module.body.operations
                 if "sym_name" in op.attributes
                 and ir.StringAttr(op.attributes["sym_name"]).value == exp.name)
    fn_type = ir.FunctionType(ir.TypeAttr(fn_op.attributes["function_type"]).value)
    results = iter([ShapeSpec(shape_of(t), dtypes.from_mlir(ir.RankedTensorType(t).element_type))
                    for t in fn_type.results])
    return {"name": exp.name, "args": args,
            "results": _tree_json(traced.out_tree, results, exp.where)}


# ---- the compile command -----------------------------------------------------------------------


def module_name_for(path: str) -> str:
    """The artifact's module name: the model file's stem as an identifier ('mlp')."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return stem if stem and not stem[0].isdigit() else f"m_{stem}"


@dataclass
class Artifact:
    """A compiled model: the sealed .vmfb bytes and its external weights (.irpa key -> array)."""

    vmfb: bytes
    weights: dict

    def write(self, output: str) -> list[str]:
        """Write output (and its .irpa beside it when there are weights) atomically."""
        from aotc.tools.compile import write_atomic
        from aotc_runtime import save_weights

        written = []
        try:
            if self.weights:
                written.append(weights_path(output))
                save_weights(written[-1], self.weights)
            write_atomic(output, self.vmfb)
        except OSError as exc:
            raise OutputError(f"{output}: cannot write ({exc.strerror or exc}); nothing was "
                              "written") from None
        return [output, *written]


def weights_path(output: str) -> str:
    """The .irpa beside an artifact: 'dist/mlp.irpa' for 'dist/mlp.vmfb'."""
    return os.path.splitext(output)[0] + ".irpa"


def build_artifact(exports: list[Export], module_name: str, target: str = "cpu",
                   cpu: str | None = None, features: str | None = None) -> Artifact:
    """Trace, compile and seal exports into one artifact for target."""
    from aotc.tools.compile import compile_stablehlo

    module = build_module(exports, module_name, target)
    text = module.operation.get_asm(enable_debug_info=True)  # locations point into model.py
    vmfb = compile_stablehlo(text, target, cpu=cpu, features=features)
    return Artifact(artifact.seal(vmfb), external_weights(exports))


def compile_model(path: str, target: str = "cpu", emit: str = "vmfb", cpu: str | None = None,
                  features: str | None = None) -> bytes:
    """The artifact (sealed .vmfb bytes) or the StableHLO text (emit='stablehlo') of a model.

    External weights (aotc.Param) are not in the bytes; compile_file writes them.
    """
    return _compile(path, target, emit, cpu, features).vmfb


def _compile(path, target, emit, cpu, features) -> Artifact:
    from aotc.tools.targets import flags

    flags(target, cpu, features)  # unknown target or misplaced --cpu: fail before importing
    if emit not in EMIT_KINDS:
        raise OutputError(f"unknown --emit '{emit}'; choose one of {', '.join(EMIT_KINDS)}")
    exports = load_model(path)
    if emit == "stablehlo":
        module = build_module(exports, module_name_for(path), target)
        return Artifact(module.operation.get_asm(enable_debug_info=False).encode(), {})
    return build_artifact(exports, module_name_for(path), target, cpu, features)


def default_output(path: str, emit: str = "vmfb") -> str:
    """'mlp.vmfb' in the current folder for 'models/mlp.py'."""
    return os.path.splitext(os.path.basename(path))[0] + _SUFFIX.get(emit, ".vmfb")


def compile_file(path: str, output: str | None = None, target: str = "cpu",
                 emit: str = "vmfb", cpu: str | None = None,
                 features: str | None = None) -> str:
    """`aotc compile`: compile the model file at path and write output atomically; returns it.

    When exports use aotc.Param, the weights go to output's name with .irpa, beside it.

    Example:
        >>> compile_file("models/mlp.py", "mlp.vmfb", target="aarch64")
        'mlp.vmfb'
    """
    return write_model(path, output, target, emit, cpu, features)[0]


def write_model(path: str, output: str | None = None, target: str = "cpu", emit: str = "vmfb",
                cpu: str | None = None, features: str | None = None) -> list[str]:
    """compile_file, returning every file written: [output] or [output, weights .irpa]."""
    output = output or default_output(path, emit)
    _check_writable(output)
    return _compile(path, target, emit, cpu, features).write(output)


def compile_function(fn: Callable, *specs, target: str = "cpu", path: str | None = None,
                     name: str | None = None, cpu: str | None = None,
                     features: str | None = None) -> bytes:
    """Compile one function into a sealed artifact for target; returns the .vmfb bytes.

    specs give every argument, as for `aotc.export` (ShapeSpecs, example arrays, aotc.Param).
    With path, also writes the artifact there (and its .irpa beside it for aotc.Param
    arguments, which need a path). Load the bytes with `aotc_runtime.load_bytes`.

    Example:
        >>> vmfb = aotc.compile(lambda x: anp.tanh(x), aotc.ShapeSpec((None, 4)),
        ...                     target="aarch64", path="tanh.vmfb")
    """
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    exp = _make_export(fn, specs, {}, name or _function_name(fn), where)
    if path is not None:
        _check_writable(path)
    built = build_artifact([exp], exp.name, target, cpu, features)
    if built.weights and path is None:
        raise OutputError(f"{where}: {exp.name}() has aotc.Param arguments; pass path='...' so "
                          "that the weights can be written beside the artifact")
    if path is not None:
        built.write(path)
    return built.vmfb


def _function_name(fn: Callable) -> str:
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() and not name.startswith("_") else "main"


def _check_writable(output: str) -> None:
    """Fail before compiling when output clearly cannot be written."""
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise OutputError(f"{output}: is a directory; give a file name such as "
                          f"{os.path.join(output, 'model.vmfb')}")
    if not os.path.isdir(folder):
        raise OutputError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{output}: folder {folder} is not writable")
