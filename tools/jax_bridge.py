"""Functions written with JAX (jax.numpy, Flax, Optax) exported through aotc: the one module of
aotc that imports jax, and only when a JAX function is exported (`pip install aotc[jax]`).

    @aotc.export(params=aotc.Param(flax_params), x=aotc.ShapeSpec(("batch", 8, 8, 1)),
                 frontend="jax")
    def classify(params, x):
        return model.apply(params, x)

The arguments are flattened with aotc's pytrees (Mappings such as Flax's FrozenDict become
dicts), JAX lowers a function of the flat leaves with `jax.export` (dynamic dims become
`jax.export.symbolic_shape` symbols), and the StableHLO it prints is imported into the
export's module under the export's name. Everything downstream (signature metadata, aotc.Param
weights, bounds pass, targets, bundles) is aotc's own path.
"""

import contextlib
import inspect
import re
import traceback
from collections.abc import Callable, Mapping

import numpy as np

from aotc.frontend.core import dtypes, shardy, tree
from aotc.frontend.core.errors import AotcError
from aotc.frontend.core.ir import ir, new_context
from aotc.frontend.trace.tracer import Traced
from aotc_runtime.signature import ArraySpec, Node, Signature

JAX_PACKAGES = ("jax", "jaxlib", "flax", "optax")
INSTALL_HINT = "pip install aotc[jax]"


class JaxExportError(AotcError):
    """A JAX function could not be lowered or imported; names the function and the fix."""


def import_jax():
    """The jax module and jax.export, or JaxExportError telling how to install them."""
    try:
        import jax
        from jax import export as jax_export
    except ImportError as exc:
        raise JaxExportError(f"exporting a JAX function needs JAX, which is not installed "
                             f"({exc}); run `{INSTALL_HINT}`") from None
    return jax, jax_export


def hit_jax(exc: BaseException, fn: Callable | None = None) -> bool:
    """True when the failure of aotc's trace happened inside JAX, Flax or Optax code (the
    function is written with JAX, not with aotc.numpy): a frame of theirs in the traceback
    (JAX filters its own frames out, and says so in a note), or fn refers to their modules."""
    seen = exc
    while seen is not None:
        for frame, _ in traceback.walk_tb(seen.__traceback__):
            if _is_jax(frame.f_globals.get("__name__")):
                return True
        if any("JAX" in str(note) for note in getattr(seen, "__notes__", ())):
            return True
        seen = seen.__cause__ or seen.__context__
    return fn is not None and _uses_jax(fn)


def _is_jax(module_name) -> bool:
    return str(module_name or "").split(".")[0] in JAX_PACKAGES


def _uses_jax(fn: Callable) -> bool:
    """fn's code names a global that is a JAX, Flax or Optax module or object."""
    code = getattr(fn, "__code__", None)
    scope = getattr(fn, "__globals__", {})
    if code is None:
        return _is_jax(getattr(type(fn), "__module__", None))
    for name in code.co_names:
        value = scope.get(name)
        if value is not None and _is_jax(getattr(value, "__name__", None)
                                         if inspect.ismodule(value)
                                         else getattr(value, "__module__", None)):
            return True
    return False


def plain(value):
    """value with every Mapping (Flax's FrozenDict, ...) turned into a dict, recursively, so that
    aotc's pytrees and the artifact's signature can describe it."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(plain(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def _symbol(name: str) -> str:
    symbol = re.sub(r"\W", "_", name)
    return symbol if symbol and not symbol[0].isdigit() else f"d_{symbol}"


def _structs(jax, jax_export, leaf_specs) -> list:
    """jax.ShapeDtypeStructs of the leaf specs; dynamic dims become symbols of one scope (a
    named dim one symbol, each unnamed dim a symbol of its own)."""
    names: dict[str, str] = {}
    layout = []
    for spec in leaf_specs:
        dims = []
        for i, d in enumerate(spec.shape):
            if d is not None:
                dims.append(d)
                continue
            label = spec.names[i] if spec.names and spec.names[i] else None
            key = f"n:{label}" if label else f"u:{len(names)}"
            if key not in names:
                base = _symbol(label) if label else f"_dyn{len(names)}"
                names[key] = base if base not in names.values() else f"{base}_{len(names)}"
            dims.append(names[key])
        layout.append(dims)
    symbols = {}
    if names:
        made = jax_export.symbolic_shape(", ".join(names.values()))
        symbols = dict(zip(names.values(), made))
    return [jax.ShapeDtypeStruct(tuple(symbols.get(d, d) if isinstance(d, str) else d
                                       for d in dims), np.dtype(spec.dtype))
            for dims, spec in zip(layout, leaf_specs)]


def lower_text(fn: Callable, leaf_specs, in_tree: tree.TreeDef, fn_name: str):
    """StableHLO text of fn(*args) lowered by JAX, args of structure in_tree with leaves like
    leaf_specs, as one function `@main` of the flat leaves (in aotc's order) returning the flat
    leaves of the result; and the result's aotc tree structure."""
    jax, jax_export = import_jax()
    out_trees = []

    def flat(*leaves):
        args = tree.unflatten(in_tree, list(leaves))
        out = plain(fn(*args))
        out_leaves, out_def = tree.flatten(out)
        out_trees.append(out_def)
        return tuple(out_leaves)

    structs = _structs(jax, jax_export, leaf_specs)
    try:
        with _short_locations(jax):
            exported = jax_export.export(jax.jit(flat), platforms=["cpu"])(*structs)
    except AotcError:
        raise
    except Exception as exc:  # noqa: BLE001 (any failure of JAX or of the user's function)
        raise JaxExportError(f"JAX could not lower {fn_name}(): {type(exc).__name__}: "
                             f"{_first_line(exc)}") from None
    for spec, aval in zip(leaf_specs, exported.in_avals):
        if np.dtype(aval.dtype) != np.dtype(spec.dtype):
            raise JaxExportError(
                f"JAX lowered an argument of {fn_name}() given as {np.dtype(spec.dtype).name} "
                f"as {np.dtype(aval.dtype).name}; for 64-bit types set "
                "jax.config.update('jax_enable_x64', True) before exporting, or give 32-bit specs")
    return exported.mlir_module(), out_trees[-1]


@contextlib.contextmanager
def _short_locations(jax):
    """Locations of the innermost user frame only (JAX's default is the whole Python stack,
    which IREE's diagnostics would print frame by frame)."""
    flag = "jax_include_full_tracebacks_in_locations"
    try:
        before = getattr(jax.config, flag)
    except AttributeError:
        yield
        return
    jax.config.update(flag, False)
    try:
        yield
    finally:
        jax.config.update(flag, before)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""



def import_function(text: str, source: str, name: str, module=None,
                    private: bool = False) -> ir.Module:
    """Parse StableHLO text and add its function `source` to module as `name` (its helper
    functions as `name__<helper>`); a new module of aotc's when module is None. Returns the
    module."""
    context = module.context if module is not None else new_context()
    text = shardy.importable(text, JaxExportError, "the StableHLO text")
    with context:
        try:
            parsed = ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise JaxExportError(f"cannot parse the StableHLO text: {exc}") from None
        functions = _functions(parsed)
        if source not in functions:
            raise JaxExportError(f"the StableHLO module has no function '{source}'; it has "
                                 f"{', '.join(sorted(functions)) or 'none'}")
        taken = set(_functions(module)) if module is not None else set()
        renames = {source: name}
        for helper in functions:
            if helper != source:
                candidate = f"{name}__{helper}"
                while candidate in taken or candidate in functions:
                    candidate += "_"
                renames[helper] = candidate
        if name in taken:
            raise JaxExportError(f"a function named '{name}' is already in the module")
        for old, new in renames.items():
            if old != new:
                ir.SymbolTable.replace_all_symbol_uses(old, new, parsed.operation)
                ir.SymbolTable.set_symbol_name(functions[old], new)
        for old, op in functions.items():
            public = old == source and not private
            op.attributes["sym_visibility"] = ir.StringAttr.get("public" if public else "private")
        if module is None:
            module = ir.Module.create(loc=ir.Location.unknown())
        for op in list(parsed.body.operations):
            module.body.append(op)
    return module


def _functions(module) -> dict:
    return {ir.StringAttr(op.attributes["sym_name"]).value: op
            for op in module.body.operations
            if op.operation.name == "func.func" and "sym_name" in op.attributes}


def trace(fn: Callable, leaf_specs, in_tree: tree.TreeDef, name: str, module=None,
          private: bool = False) -> Traced:
    """The JAX counterpart of aotc's trace: fn lowered by JAX and imported into module."""
    text, out_tree = lower_text(fn, leaf_specs, in_tree, name)
    module = import_function(text, "main", name, module, private)
    with module.context:
        fn_op = _functions(module)[name]
        fn_type = ir.FunctionType(ir.TypeAttr(fn_op.attributes["function_type"]).value)
        _check_types(fn_type, leaf_specs, name)
    return Traced(module, name, in_tree, out_tree, [False] * len(fn_type.results))


def _check_types(fn_type, leaf_specs, name: str) -> None:
    if len(fn_type.inputs) != len(leaf_specs):
        raise JaxExportError(f"JAX lowered {name}() with {len(fn_type.inputs)} arguments for "
                             f"{len(leaf_specs)} array leaves; export it with plain arrays")
    for t, spec in zip(fn_type.inputs, leaf_specs):
        dtype = dtypes.from_mlir(ir.RankedTensorType(t).element_type)
        if np.dtype(dtype) != np.dtype(spec.dtype):
            raise JaxExportError(f"JAX lowered a {np.dtype(spec.dtype).name} argument of "
                                 f"{name}() as {np.dtype(dtype).name}")


# ---- StableHLO text from anywhere: `aotc compile model.mlir --function main --spec ...` --------

_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64",
           "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "u8": "uint8",
           "u16": "uint16", "u32": "uint32", "u64": "uint64", "i1": "bool", "c64": "complex64",
           "c128": "complex128"}
_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(\w+)\s*\[(.*)\]\s*$")


def parse_spec(text: str) -> tuple[str, ArraySpec]:
    """'x=f32[?,784]' -> ('x', float32[?, 784]); a dim is an int, ? (a dynamic size of its own)
    or a name (a dynamic size shared by every dim of that name)."""
    match = _SPEC.match(text)
    if match is None:
        raise JaxExportError(f"cannot read the spec '{text}'; write NAME=DTYPE[DIMS] such as "
                             "x=f32[?,784] or x=float32[batch,784] (? or a name: dynamic)")
    name, dtype_text, dims_text = match.groups()
    try:
        dtype = np.dtype(dtypes.canonicalize(_DTYPES.get(dtype_text, dtype_text)))
    except TypeError:
        raise JaxExportError(f"spec '{text}': unknown dtype '{dtype_text}'; use f32, f16, bf16, "
                             "i32, i64, i8, u8, i1 or a numpy name such as float32") from None
    dims = []
    for item in (d.strip() for d in dims_text.split(",") if dims_text.strip()):
        if item == "?":
            dims.append(None)
        elif item.isdigit():
            dims.append(int(item))
        elif item.isidentifier():
            dims.append(item)
        else:
            raise JaxExportError(f"spec '{text}': bad dim '{item}'; a dim is a size, ? or a "
                                 "name")
    return name, ArraySpec(tuple(dims), dtype)


def import_mlir(path: str, function: str = "main", specs=()) -> tuple[ir.Module, Signature]:
    """A StableHLO file's function, ready for aotc's export pipeline: the module (every other
    function private) and the function's signature, its arguments named by specs
    ('x=f32[?,784]', checked against the function's types) or arg0, arg1, ... without them."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise JaxExportError(f"{path}: cannot read the StableHLO file ({exc})") from None
    text = shardy.importable(text, JaxExportError, str(path))
    with new_context():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise JaxExportError(f"{path}: not valid MLIR text: {_first_line(exc)}") from None
        found = _functions(module)
        if function not in found:
            public = [n for n, op in found.items() if "sym_visibility" not in op.attributes
                      or ir.StringAttr(op.attributes["sym_visibility"]).value == "public"]
            raise JaxExportError(f"{path}: has no function '{function}'; it has "
                                 f"{', '.join(sorted(public)) or 'none'} (pass --function)")
        for name, op in found.items():
            if name != function:
                op.attributes["sym_visibility"] = ir.StringAttr.get("private")
        fn_type = ir.FunctionType(ir.TypeAttr(found[function].attributes["function_type"]).value)
        types = [_array_spec(t) for t in fn_type.inputs]
        named = [parse_spec(s) for s in specs]
        if named and len(named) != len(types):
            raise JaxExportError(f"{path}: @{function} takes {len(types)} arguments "
                                 f"({', '.join(map(str, types))}); {len(named)} specs were given")
        if not named:
            named = [(f"arg{i}", t) for i, t in enumerate(types)]
        for i, ((name, spec), actual) in enumerate(zip(named, types)):
            _check_spec(path, function, i, name, spec, actual)
        if len({n for n, _ in named}) != len(named):
            raise JaxExportError(f"{path}: two specs name the same argument; give each a name")
        results = [_array_spec(t) for t in fn_type.results]
    args = [(name, Node("array", spec=spec)) for name, spec in named]
    out = (Node("array", spec=results[0]) if len(results) == 1 else
           Node("tuple", tuple(Node("array", spec=r) for r in results)))
    return module, Signature.of(function, args, out)


def _array_spec(t) -> ArraySpec:
    shaped = ir.RankedTensorType(t)
    dims = tuple(None if shaped.is_dynamic_dim(i) else shaped.get_dim_size(i)
                 for i in range(shaped.rank))
    return ArraySpec(dims, np.dtype(dtypes.from_mlir(shaped.element_type)))


def _check_spec(path, function, index, name, spec: ArraySpec, actual: ArraySpec) -> None:
    fits = (spec.dtype == actual.dtype and len(spec.shape) == len(actual.shape)
            and all((a is None) == (not isinstance(s, int)) and (a is None or s == a)
                    for s, a in zip(spec.shape, actual.shape)))
    if not fits:
        raise JaxExportError(f"{path}: the spec {name}={spec} does not fit argument {index} of "
                             f"@{function}, which is {actual} (? = dynamic: write ? or a name "
                             "there, and the sizes and dtype of the function)")
