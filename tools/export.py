"""The model.py convention and the export pipeline: `@aotc.export` marks functions;
`ExportOutput` traces them into one module that compiles into one artifact.

    # model.py
    import aotc, aotc.numpy as anp

    @aotc.export(w=aotc.ShapeSpec((4, 3)), x=aotc.ShapeSpec((None, 4)))
    def predict(w, x):
        return anp.tanh(x @ w)

    exported = ExportOutput.from_file("model.py")   # import model.py, trace every export
    exported.module                                  # the StableHLO ir.Module, with metadata
    exported.text()                                  # ... as MLIR text
    built = exported.compile("aarch64", flags=["--iree-opt-level=O3"])   # an Artifact
    built.write("model.vmfb")                        # + model.irpa for aotc.Param weights

Numpy arrays the functions close over become constants; each function's signature goes into
its `iree.reflection` metadata (format owned by aotc_runtime.signature). Arguments given as
`aotc.Param(weights)` are bound to external weights written to model.irpa beside the .vmfb
(see aotc.tools.params); the artifact records the SHA-256 of that file, and the pair is
written together or not at all.
"""
import contextlib
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import AotcError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.version import VERSION
from aotc.frontend.trace.lower import ShapeSpec, check_dims, spec_of
from aotc.frontend.trace.tracer import trace
from aotc.tools import jax_bridge, sharded
from aotc.tools import params as external
from aotc.tools.params import Param
from aotc_runtime import artifact
from aotc_runtime.mesh import MeshSpec
from aotc_runtime.module import RESERVED_NAMES
from aotc_runtime.signature import ArraySpec, Node, Signature

EMIT_KINDS = ("vmfb", "stablehlo")
FRONTENDS = ("auto", "aotc", "jax")
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
    frontend: str = "auto"  # "aotc", "jax", or "auto" (aotc, then JAX when tracing hits JAX)
    in_shardings: object = None  # sharded exports (aotc.tools.sharded): NamedShardings
    out_shardings: object = None


_COLLECTING: list[list[Export]] = []


def export(*specs, name: str | None = None, frontend: str = "auto", in_shardings=None,
           out_shardings=None, **named_specs) -> Callable:
    """Mark a function for `aotc compile`: give every argument a spec, by position or name.

    A spec is a pytree (dict, list, tuple) of `aotc.ShapeSpec`s (None = dynamic dimension) or
    example arrays (only their shape and dtype count). Parameters with defaults may be left out
    and keep their Python values. The function itself is returned unchanged.

    frontend="jax" lowers a function written with JAX (jax.numpy, Flax, Optax) with JAX
    itself (`pip install aotc[jax]`); "aotc" traces with aotc only; "auto" (the default)
    traces with aotc and turns to JAX when the trace runs into JAX code.

    in_shardings / out_shardings (as for `aotc.jit`; in_shardings may also be a dict by
    argument name) export a sharded function: it is partitioned for their mesh, the artifact
    records the mesh and every leaf's sharding, and its compiled function takes and returns each
    leaf as one block per device. An `aotc.jit(f, in_shardings=...)` exports the same way.

    Example:
        >>> @aotc.export(params=PARAMS_SPEC, x=aotc.ShapeSpec((None, 784), "float32"))
        ... def predict(params, x):
        ...     return anp.tanh(x @ params["w"] + params["b"])
    """
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"

    def decorate(fn: Callable) -> Callable:
        exp = _make_export(fn, specs, named_specs, name, where, frontend,
                           (in_shardings, out_shardings))
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


def _make_export(fn, specs, named_specs, name, where, frontend: str = "auto",
                 shardings=(None, None)) -> Export:
    jitted = sharded.sharded_arguments(fn)
    if jitted is not None:  # an aotc.jit with shardings: export its function with them
        fn, *given = jitted
        shardings = tuple(s if s is not None else g for s, g in zip(shardings, given))
    fn_name = name or getattr(fn, "__name__", "")
    if frontend not in FRONTENDS:
        raise ModelError(f"{where}: unknown frontend={frontend!r}; choose one of "
                         f"{', '.join(FRONTENDS)}")
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
    arg_specs = tuple(Param(jax_bridge.plain(s.value), s.name) if isinstance(s, Param)
                      else jax_bridge.plain(s) for s in bound.arguments.values())
    exp = Export(fn, fn_name, tuple(bound.arguments), arg_specs, static, where, frontend,
                 *shardings)
    if exp.in_shardings is not None or exp.out_shardings is not None:
        _check_shardable(exp)
    return exp


def _check_shardable(exp: Export) -> None:
    """ModelError for what a sharded export does not support."""
    if any(isinstance(s, Param) for s in exp.arg_specs):
        raise ModelError(f"{exp.where}: {exp.name}() is sharded and has aotc.Param arguments; "
                         "pass the weights as arrays (sharded weights files are not supported)")
    if exp.frontend == "jax":
        raise ModelError(f"{exp.where}: {exp.name}() is sharded; aotc partitions programs it "
                         "traces itself, so use frontend='aotc' (or 'auto')")


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
        with user_code(path):
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


class _ExitCalled(Exception):
    """os._exit(status) called by user code while aotc runs it."""


@contextlib.contextmanager
def user_code(path: str):
    """Run a model file's code: os._exit() inside it raises ModelError instead of ending the
    process (with status 0 and no artifact)."""

    def refuse_exit(status=0):
        raise _ExitCalled(f"os._exit({status}) called")

    real_exit = os._exit
    os._exit = refuse_exit
    try:
        yield
    except _ExitCalled as exc:
        line = _line_in(exc, path)
        raise ModelError(f"{path}:{line}: {exc} while aotc ran the model; a model file must not "
                         "end the process (remove the call or guard it with "
                         "`if __name__ == '__main__':`)") from None
    finally:
        os._exit = real_exit


def _line_in(exc: BaseException, path: str) -> int:
    """The line of the innermost traceback frame in path (else of the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    target = os.path.abspath(path)
    inside = [f for f in frames if os.path.abspath(f.filename) == target]
    return (inside or frames)[-1].lineno if frames else 1


# ---- the export pipeline -------------------------------------------------------------------------


class ExportOutput:
    """Exports traced into one StableHLO module: compile it, print it, or write it.

    `.module` is the ir.Module (every export a public func.func with its signature metadata),
    `.weights` the aotc.Param arrays by .irpa key, `.signatures` each function's Signature.
    Compiler flags are arguments of `.compile` and `.write`, never global state.

    Example:
        >>> exported = ExportOutput.from_file("models/mlp.py")
        >>> exported.write("mlp.vmfb", target="aarch64")
        ['mlp.vmfb', 'mlp.irpa']
    """

    def __init__(self, exports: list[Export], module_name: str):
        self.name = module_name
        self.weights: dict[str, np.ndarray] = external_weights(exports)
        self.signatures: dict[str, Signature] = {}
        module = None
        for exp in exports:
            traced = _trace(exp, module)
            module = traced.module
            self.signatures[exp.name] = _signature(exp, traced)
        self.module: ir.Module = module
        with module.context:
            module.operation.attributes["sym_name"] = ir.StringAttr.get(module_name)
        self._stamp(None, None)

    @classmethod
    def from_file(cls, path: str) -> "ExportOutput":
        """Import the model file at path and trace its exports (module named after the file);
        a .mlir file is StableHLO text whose @main is exported (see from_mlir)."""
        if path.endswith(".mlir"):
            return cls.from_mlir(path)
        return cls(load_model(path), module_name_for(path))

    @classmethod
    def from_mlir(cls, path: str, function: str = "main", specs=()) -> "ExportOutput":
        """Export function of a StableHLO file (from JAX, torch-mlir, ...); specs such as
        'x=f32[?,784]' name its arguments and are checked against its types."""
        module, signature = jax_bridge.import_mlir(path, function, specs)
        exported = cls.__new__(cls)
        exported.name, exported.weights = module_name_for(path), {}
        exported.signatures, exported.module = {function: signature}, module
        with module.context:
            module.operation.attributes["sym_name"] = ir.StringAttr.get(exported.name)
        exported._stamp(None, None)
        return exported

    @classmethod
    def from_function(cls, fn: Callable, *specs, name: str | None = None,
                      where: str | None = None, frontend: str = "auto") -> "ExportOutput":
        """Trace one function; specs give every argument, as for `aotc.export`."""
        if where is None:
            frame = sys._getframe(1)
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        exp = _make_export(fn, specs, {}, name or _function_name(fn), where, frontend)
        return cls([exp], exp.name)

    def text(self, target: str | None = None, debug_info: bool = False) -> str:
        """The module as MLIR text; with target, carrying that target's metadata too."""
        if target is not None:
            self._stamp(target, None)
        return self.module.operation.get_asm(enable_debug_info=debug_info)

    def compile(self, target: str = "cpu", flags=(), *, cpu: str | None = None,
                features: str | None = None) -> "Artifact":
        """IREE-compile for target (extra IREE flags appended to the preset's) and seal."""
        from aotc.tools.compile import compile_stablehlo

        irpa = _archive(self.weights) if self.weights else None
        digest = hashlib.sha256(irpa).hexdigest() if irpa is not None else None
        self._stamp(target, digest)
        text = self.text(debug_info=True)  # locations point into model.py
        vmfb = compile_stablehlo(text, target, flags, cpu=cpu, features=features)
        return Artifact(artifact.seal(vmfb), irpa, dict(self.weights))

    def write(self, path: str, target: str = "cpu", flags=(), *, emit: str = "vmfb",
              cpu: str | None = None, features: str | None = None) -> list[str]:
        """Write the artifact (emit='vmfb', with its .irpa) or the MLIR text (emit='stablehlo')
        to path, atomically; returns every file written."""
        check_writable(path)
        if emit == "stablehlo":
            _write_file(path, self.text(target).encode())
            return [path]
        if emit != "vmfb":
            raise OutputError(f"unknown emit '{emit}'; choose one of {', '.join(EMIT_KINDS)}")
        return self.compile(target, flags, cpu=cpu, features=features).write(path)

    def _stamp(self, target: str | None, weights_digest: str | None) -> None:
        """Set every export's iree.reflection metadata (target keys only when target is given)."""
        metadata = {artifact.KEY_FORMAT: str(artifact.FORMAT_VERSION),
                    artifact.KEY_VERSION: VERSION}
        if target is not None:
            from aotc.tools.targets import get_target

            preset = get_target(target)
            metadata.update({artifact.KEY_TARGET: target, artifact.KEY_DRIVER: preset.driver,
                             artifact.KEY_ARCH: preset.arch or ""})
        if self.weights:
            metadata[artifact.KEY_WEIGHTS] = json.dumps(
                {k: {"shape": list(v.shape), "dtype": v.dtype.name}
                 for k, v in self.weights.items()}, separators=(",", ":"))
        if weights_digest is not None:
            metadata[artifact.KEY_WEIGHTS_DIGEST] = weights_digest
        with self.module.context:
            for op in self.module.body.operations:
                if "sym_name" not in op.attributes:
                    continue
                fn = ir.StringAttr(op.attributes["sym_name"]).value
                if fn not in self.signatures:
                    continue  # a private helper that a transform (grad, vmap) staged, or a global
                entries = {**metadata, artifact.KEY_SIGNATURE: self.signatures[fn].encode()}
                op.attributes["iree.reflection"] = ir.DictAttr.get(
                    {k: ir.StringAttr.get(v) for k, v in entries.items()})


def _archive(weights: dict[str, np.ndarray]) -> bytes:
    """The .irpa bytes of weights (IREE writes archives to files only)."""
    from aotc_runtime import save_weights

    with tempfile.TemporaryDirectory(prefix="aotc-weights-") as folder:
        path = os.path.join(folder, "weights.irpa")
        try:
            save_weights(path, weights)
        except OSError as exc:
            raise OutputError(f"cannot build the weights archive in a temporary folder "
                              f"({exc.strerror or exc}); nothing was written") from None
        with open(path, "rb") as f:
            return f.read()


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
    user_file = getattr(getattr(exp.fn, "__code__", None), "co_filename", exp.where)
    if exp.frontend == "jax":
        with user_code(user_file):
            traced = jax_bridge.trace(call, specs, in_tree, impl, module, private=bool(keys))
    else:
        try:
            with user_code(user_file):
                traced = trace(call, specs, in_tree, impl, module=module, private=bool(keys))
                check_dims(traced, specs, exp.arg_names)
        except Exception as exc:
            if exp.frontend == "auto" and jax_bridge.hit_jax(exc, exp.fn):
                traced = _trace_with_jax(exp, exc, call, specs, in_tree, impl, module, keys)
            elif isinstance(exc, AotcError):
                raise
            else:
                raise ModelError(f"{_where_in(exp, exc)}: {type(exc).__name__} while tracing "
                                 f"{exp.name}(): {exc}") from None
    if exp.in_shardings is not None or exp.out_shardings is not None:
        traced.partitioned = _partition(exp, traced, specs)
    if keys:
        file, _, line = exp.where.rpartition(":")
        with traced.module.context:
            location = ir.Location.file(file, int(line), 0)
        external.bind_globals(traced.module, impl, exp.name, keys, location)
        traced.name = exp.name
    return traced


def _partition(exp: Export, traced, specs):
    """Partition a sharded export's traced function for its mesh (aotc.tools.sharded)."""
    what = f"{exp.where}: export {exp.name}()"
    in_shardings = exp.in_shardings
    if isinstance(in_shardings, dict) and set(in_shardings) <= set(exp.arg_names):
        in_shardings = tuple(in_shardings.get(n) for n in exp.arg_names)
    given = sharded.per_leaf(in_shardings, tuple(exp.arg_specs), f"{what} in_shardings")
    out_template = tree.unflatten(traced.out_tree, [0] * traced.out_tree.num_leaves)
    outs = sharded.per_leaf(exp.out_shardings, out_template, f"{what} out_shardings")
    mesh = sharded.mesh_of(given + outs, what)
    names = sharded.leaf_names(traced.in_tree, exp.arg_names)
    in_specs = sharded.specs_of(given, [s.shape for s in specs], mesh,
                                [f"{what}: argument {n}" for n in names])
    results = _function_type(traced.module, exp.name).results
    out_specs = sharded.specs_of(outs, [shape_of(t) for t in results], mesh,
                                 [f"{what}: output {k}" for k in range(len(outs))])
    return sharded.partition_traced(traced, mesh, in_specs, out_specs)


def _function_type(module, name: str) -> ir.FunctionType:
    fn_op = next(op for op in module.body.operations
                 if "sym_name" in op.attributes
                 and ir.StringAttr(op.attributes["sym_name"]).value == name)
    return ir.FunctionType(ir.TypeAttr(fn_op.attributes["function_type"]).value)


def _where_in(exp: Export, exc: BaseException) -> str:
    line = _line_in(exc, exp.fn.__code__.co_filename) if hasattr(exp.fn, "__code__") else 0
    return f"{exp.fn.__code__.co_filename}:{line}" if line else exp.where


def _trace_with_jax(exp: Export, hit: BaseException, call, specs, in_tree, impl, module, keys):
    """aotc's trace of exp ran into JAX code: drop its half-built function and lower exp with
    JAX instead; if that fails too, say both."""
    if module is not None:
        for op in list(module.body.operations):
            if ("sym_name" in op.attributes
                    and ir.StringAttr(op.attributes["sym_name"]).value == impl):
                op.operation.erase()
    try:
        with user_code(getattr(getattr(exp.fn, "__code__", None), "co_filename", exp.where)):
            return jax_bridge.trace(call, specs, in_tree, impl, module, private=bool(keys))
    except AotcError as exc:
        raise ModelError(f"{_where_in(exp, hit)}: tracing {exp.name}() with aotc ran into JAX "
                         f"code ({type(hit).__name__}), and lowering it with JAX failed too: "
                         f"{exc}. Write it with aotc.numpy, or fix it for JAX and pass "
                         "frontend='jax'") from None


def _param_stub(spec):
    """A Param's values stand in for its pytree structure (leaves are its arrays)."""
    return spec.value if isinstance(spec, Param) else spec


def _tree_node(treedef: tree.TreeDef, leaf_specs, where: str, shardings=None) -> Node:
    """The aotc_runtime.signature Node of a pytree, consuming leaf_specs (and, for a sharded
    function, the leaves' normalized shardings) in order."""
    kind = treedef.kind
    if kind is None:
        spec = next(leaf_specs)
        sharding = next(shardings) if shardings is not None else None
        return Node("array", spec=ArraySpec(tuple(spec.dims), np.dtype(spec.dtype), sharding))
    if kind is type(None):
        return Node("none")
    children = tuple(_tree_node(c, leaf_specs, where, shardings) for c in treedef.children)
    if kind is dict:
        for key in treedef.aux:
            _check_key(key, where)
        return Node("dict", children, tuple(treedef.aux))
    if kind in (tuple, list):
        return Node(kind.__name__, children)
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        return Node("namedtuple", children, tuple(kind._fields), kind.__name__)
    raise ModelError(f"{where}: an exported pytree contains a {kind.__name__}, which an artifact "
                     "cannot describe; use dicts, lists, tuples or namedtuples")


def _check_key(key, where: str) -> None:
    """Dict keys of exported pytrees: str or int, printable (they end up in files and scripts)."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise ModelError(f"{where}: dict keys in exported pytrees must be str or int, got "
                         f"{key!r}")
    if isinstance(key, str) and not (key and key.isprintable()):
        raise ModelError(f"{where}: the dict key {key!r} of an exported pytree is empty or holds "
                         "a control character (newline, tab, ...); rename it")


def _signature(exp: Export, traced) -> Signature:
    part = getattr(traced, "partitioned", None)
    in_shardings = iter(part.in_specs) if part is not None else None
    args = []
    for name, value in zip(exp.arg_names, exp.arg_specs):
        if isinstance(value, Param):
            continue  # bound from the weights file, not an argument of the exported function
        specs = iter([_leaf_spec(leaf) for leaf in tree.flatten(value)[0]])
        args.append((name, _tree_node(tree.structure(value), specs, exp.where, in_shardings)))
    if part is None:
        types = _function_type(traced.module, exp.name).results
        results = iter([ShapeSpec(shape_of(t),
                                  dtypes.from_mlir(ir.RankedTensorType(t).element_type))
                        for t in types])
        return Signature.of(exp.name, args, _tree_node(traced.out_tree, results, exp.where))
    global_fn = _function_type(traced.module, part.source).results  # global result types
    results = iter([ShapeSpec(shape_of(t), dtypes.from_mlir(ir.RankedTensorType(t).element_type))
                    for t in global_fn])
    mesh = MeshSpec(part.mesh.axis_names, part.mesh.axis_sizes)
    out = _tree_node(traced.out_tree, results, exp.where, iter(part.out_specs))
    return Signature.of(exp.name, args, out, mesh=mesh)


# ---- artifacts and files ------------------------------------------------------------------------


def module_name_for(path: str) -> str:
    """The artifact's module name: the model file's stem as an identifier ('mlp')."""
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return stem if stem and not stem[0].isdigit() else f"m_{stem}"


def default_output(path: str, emit: str = "vmfb") -> str:
    """'mlp.vmfb' in the current folder for 'models/mlp.py'."""
    return os.path.splitext(os.path.basename(path))[0] + _SUFFIX.get(emit, ".vmfb")


def weights_path(output: str) -> str:
    """The .irpa beside an artifact: 'dist/mlp.irpa' for 'dist/mlp.vmfb'."""
    return os.path.splitext(output)[0] + ".irpa"


@dataclass
class Artifact:
    """A compiled model: the sealed .vmfb bytes and, with aotc.Param weights, the .irpa bytes
    whose SHA-256 the .vmfb records (and the weights as arrays, by key)."""

    vmfb: bytes
    irpa: bytes | None = None
    weights: dict = field(default_factory=dict)

    def write(self, path: str) -> list[str]:
        """Write path (and its .irpa beside it) as a pair: both new files or both old ones.

        Returns the files written. Both go to temporary files in path's folder first; only
        when both are complete are they renamed into place.
        """
        if self.irpa is None:
            _write_file(path, self.vmfb)
            return [path]
        irpa_path = weights_path(path)
        _write_pair([(irpa_path, self.irpa), (path, self.vmfb)])
        return [path, irpa_path]


def _write_file(path: str, data: bytes) -> None:
    from aotc_runtime.files import write_atomic

    try:
        write_atomic(path, data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); nothing was "
                          "written") from None


def _temp_beside(path: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    return tmp


def _fill(tmp: str, data: bytes) -> None:
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)


def _write_pair(files: list[tuple[str, bytes]]) -> None:
    """Replace both (path, data) files, or neither: temporaries first, then two renames; if the
    second rename fails, the first file's old version is put back."""
    names = " and ".join(p for p, _ in files)
    temps: list[str] = []
    backup = None
    failing = files[0][0]
    try:
        for failing, data in files:
            temps.append(_temp_beside(failing))
            _fill(temps[-1], data)
    except OSError as exc:
        _remove(temps)
        raise OutputError(f"{failing}: cannot write ({exc.strerror or exc}); nothing was "
                          f"written ({names} are unchanged)") from None
    (first, _), (second, _) = files
    try:
        if os.path.exists(first):
            backup = _temp_beside(first)
            os.unlink(backup)
            os.link(first, backup)  # the old first file, to put back if the second rename fails
    except OSError:
        backup = None  # no hard links here: the renames below are still all-or-nothing in practice
    try:
        os.replace(temps[0], first)
    except OSError as exc:
        _remove([*temps, *([backup] if backup else [])])
        raise OutputError(f"{first}: cannot write ({exc.strerror or exc}); nothing was written "
                          f"({names} are unchanged)") from None
    try:
        os.replace(temps[1], second)
    except OSError as exc:
        _remove(temps[1:])
        restored = _restore(first, backup)
        state = (f"{first} and {second} are unchanged" if restored else
                 f"{first} now holds the new weights but {second} is the old artifact, which "
                 "will refuse them; compile again")
        raise OutputError(f"{second}: cannot write ({exc.strerror or exc}); {state}") from None
    _remove([backup] if backup else [])


def _restore(path: str, backup: str | None) -> bool:
    """Put backup back at path (or remove path if it did not exist before); True if done."""
    try:
        if backup is not None:
            os.replace(backup, path)
        else:
            os.unlink(path)
        return True
    except OSError:
        return False


def _remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


# ---- aotc.compile -------------------------------------------------------------------------------


def compile_function(fn: Callable, *specs, target: str = "cpu", path: str | None = None,
                     name: str | None = None, flags=(), cpu: str | None = None,
                     features: str | None = None, frontend: str = "auto") -> bytes:
    """`aotc.compile`: one function into a sealed artifact for target; returns the .vmfb bytes.

    specs give every argument, as for `aotc.export` (ShapeSpecs, example arrays, aotc.Param).
    frontend="jax" lowers a function written with JAX with JAX itself (see `aotc.export`).
    flags are extra IREE flags. With path, also writes the artifact there (and its .irpa
    beside it for aotc.Param arguments, which need a path). Load the bytes with
    `aotc_runtime.load_bytes`; for more control use ExportOutput.from_function.

    Example:
        >>> vmfb = aotc.compile(lambda x: anp.tanh(x), aotc.ShapeSpec((None, 4)),
        ...                     target="aarch64", path="tanh.vmfb")
    """
    frame = sys._getframe(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    if path is not None:
        check_writable(path)
    exported = ExportOutput.from_function(fn, *specs, name=name, where=where, frontend=frontend)
    if exported.weights and path is None:
        raise OutputError(f"{where}: {exported.name}() has aotc.Param arguments; pass "
                          "path='...' so that the weights can be written beside the artifact")
    built = exported.compile(target, flags, cpu=cpu, features=features)
    if path is not None:
        built.write(path)
    return built.vmfb


def _function_name(fn: Callable) -> str:
    name = getattr(fn, "__name__", "")
    return name if name.isidentifier() and not name.startswith("_") else "main"


def check_writable(output: str) -> None:
    """Fail before compiling when output clearly cannot be written."""
    folder = os.path.dirname(os.path.abspath(output))
    if os.path.isdir(output):
        raise OutputError(f"{output}: is a directory; give a file name such as "
                          f"{os.path.join(output, 'model.vmfb')}")
    if not os.path.isdir(folder):
        raise OutputError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{output}: folder {folder} is not writable")
