"""External parameters: export arguments bound to weights that live in an .irpa file.

    @aotc.export(params=aotc.Param(init_params(0)), x=aotc.ShapeSpec((None, 784)))
    def classify(params, x): ...

The exported `classify` takes only `x`. Each leaf of the Param becomes an IREE global
`util.global private @... = #flow.parameter.named<"model"::"params/w1">`, which the runtime
binds from `mlp.irpa` beside `mlp.vmfb`: the artifact stays small and the weights can be
swapped without recompiling (aotc_runtime.save_weights writes a compatible file).
"""

from dataclasses import dataclass

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import AotcError
from aotc.frontend.core.ir import func, ir
from aotc_runtime.artifact import WEIGHTS_SCOPE


class Param:
    """Marks an exported argument as external weights, bound to the given values.

    value is a pytree (dicts, lists, tuples) of numpy arrays. The export's signature leaves
    the argument out; `aotc compile` writes the arrays to NAME.irpa beside NAME.vmfb, keyed by
    `name/path` (name defaults to the argument's name: 'params/w1', 'params/layers/0').

    Example:
        >>> @aotc.export(params=aotc.Param(WEIGHTS), x=aotc.ShapeSpec((None, 784)))
        ... def classify(params, x):
        ...     return predict(params, x)
    """

    def __init__(self, value, name: str | None = None):
        if name is not None and not (isinstance(name, str) and name.strip("/")):
            raise ValueError(f"aotc.Param name must be a non-empty string, got {name!r}")
        self.value = value
        self.name = name

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        return f"aotc.Param({tree.structure(self.value)}{label})"


class ParamError(AotcError):
    """An aotc.Param holds something that cannot be stored as weights, or names clash."""


@dataclass(frozen=True)
class Weight:
    """One external array: its key in the .irpa and its value (already in its exported dtype)."""

    key: str
    value: np.ndarray


def leaves(param: Param, arg_name: str, where: str) -> list[Weight]:
    """The keyed arrays of a Param, in flattening order (dict keys sorted)."""
    prefix = (param.name or arg_name).strip("/")
    flat = []
    for path, leaf in _paths(param.value, ()):
        if not (hasattr(leaf, "__array__") or isinstance(leaf, (bool, int, float))):
            raise ParamError(f"{where}: aotc.Param for '{arg_name}' holds a "
                             f"{type(leaf).__name__} at {'/'.join(path) or 'the top'}; "
                             "give numpy arrays (weights need concrete values)")
        array = np.asarray(leaf)
        try:
            dtype = dtypes.canonical_default(array.dtype)
        except TypeError as exc:
            raise ParamError(f"{where}: aotc.Param for '{arg_name}': {exc}") from None
        key = "/".join((prefix, *path))
        _check_key(key, arg_name, where)
        flat.append(Weight(key, np.ascontiguousarray(array, dtype=dtype)))
    return flat


def _check_key(key: str, arg_name: str, where: str) -> None:
    """A weight key goes into MLIR string attributes, the .irpa index and shell commands."""
    bad = next((c for c in key if c in '"\\' or not c.isprintable()), None)
    if bad is not None:
        raise ParamError(f"{where}: aotc.Param for '{arg_name}': the weight name {key!r} holds "
                         f"{bad!r}; weight names may not contain quotes, backslashes or control "
                         "characters: rename the dict key or pass aotc.Param(..., name='...')")


def _paths(value, path: tuple):
    """(path of str keys, leaf) in the order aotc.tree flattens value."""
    leaves_, treedef = tree.flatten(value)
    keyed = _keys(treedef, path)
    return list(zip(keyed, leaves_))


def _keys(treedef: tree.TreeDef, path: tuple) -> list[tuple]:
    if treedef.kind is None:
        return [path]
    if treedef.kind is type(None):
        return []
    if treedef.kind is dict:
        keys = treedef.aux
    else:
        keys = getattr(treedef.kind, "_fields", None) or range(len(treedef.children))
    out = []
    for key, child in zip(keys, treedef.children):
        out.extend(_keys(child, (*path, str(key))))
    return out


def merge(found: dict[str, np.ndarray], weights: list[Weight], where: str) -> None:
    """Add weights to found (key -> array); the same key must hold the same array."""
    for w in weights:
        old = found.get(w.key)
        if old is not None and not (old.shape == w.value.shape and old.dtype == w.value.dtype
                                    and np.array_equal(old, w.value)):
            raise ParamError(f"{where}: two aotc.Param arrays are both named '{w.key}' but "
                             "differ; pass aotc.Param(..., name='...') to tell them apart")
        found[w.key] = w.value


def bind_globals(module: ir.Module, impl: str, name: str, external: dict,
                 location: ir.Location) -> None:
    """Add `func @name` that loads the external leaves from globals and calls `@impl`.

    external maps an argument index of impl to its .irpa key. The new function's arguments
    are impl's remaining arguments, in order.
    """
    body = module.body
    existing = {ir.StringAttr(op.attributes["sym_name"]).value for op in body.operations
                if "sym_name" in op.attributes}
    impl_op = next(op for op in body.operations
                   if ir.StringAttr(op.attributes["sym_name"]).value == impl)
    impl_type = ir.FunctionType(ir.TypeAttr(impl_op.attributes["function_type"]).value)
    arg_types = list(impl_type.inputs)
    symbols = {}
    with module.context, location:
        for index, key in external.items():
            symbol = _global_symbol(key)
            symbols[index] = symbol
            if symbol in existing:
                continue
            existing.add(symbol)
            text = (f'util.global private @"{symbol}" = #flow.parameter.named<'
                    f'"{WEIGHTS_SCOPE}"::"{key}"> : {arg_types[index]}')
            ir.InsertionPoint.at_block_begin(body).insert(ir.Operation.parse(text))
        inputs = [t for i, t in enumerate(arg_types) if i not in external]
        with ir.InsertionPoint(body):
            wrapper = func.FuncOp(name, ir.FunctionType.get(inputs, impl_type.results))
        block = wrapper.add_entry_block()
        with ir.InsertionPoint(block):
            given = iter(block.arguments)
            operands = []
            for i, t in enumerate(arg_types):
                if i in external:
                    load = ir.Operation.create(
                        "util.global.load", results=[t],
                        attributes={"global": ir.FlatSymbolRefAttr.get(symbols[i]),
                                    "is_immutable": ir.UnitAttr.get()})
                    operands.append(load.result)
                else:
                    operands.append(next(given))
            call = func.CallOp(impl_type.results, ir.FlatSymbolRefAttr.get(impl), operands)
            func.ReturnOp(call.results)


def _global_symbol(key: str) -> str:
    return "__aotc_weight_" + key

