"""Exported signatures: argument and result pytrees of array specs, read from artifact metadata.

This module owns that format: the compiler builds a `Signature` from `Node`s and writes
`Signature.encode()` into the artifact; the runtime reads it back with `Signature(obj)`:

    {"name": "predict",
     "args": [{"name": "x", "tree": {"kind": "array", "shape": [null, 784], "dtype": "float32"}}],
     "results": {"kind": "dict", "keys": ["probs"], "children": [{"kind": "array", ...}]}}

Tree nodes are `array` (a leaf), `tuple`, `list`, `dict` (with `keys`), `namedtuple` (with
`name` and `fields`) and `none`. Here the runtime flattens a call's arguments against that
structure, checking every leaf, and rebuilds results in it.

Sharded functions (aotc.sharding) add a top-level `"mesh": {"axes": ["x", "y"], "shape": [2, 2]}`
and, on each sharded array leaf, `"sharding": [["x"], []]` (one list of mesh axes per dim;
"shape" stays the global shape). The compiled function takes and returns such a leaf as N
per-device blocks (devices 0..N-1, N = mesh size; see aotc_runtime.mesh for which block each
device holds); every other leaf is one array on device 0. A call takes a sharded leaf as a
global array, which is split into blocks, or as a list of the N blocks; results come back
assembled into global arrays, or as block lists from `function.shards(...)`.
"""

import collections
import collections.abc
import functools
import json
from dataclasses import dataclass

import numpy as np

from aotc_runtime import mesh as meshes
from aotc_runtime.errors import ArtifactError, InputError
from aotc_runtime.mesh import MeshSpec

_CONTAINERS = ("tuple", "list", "dict", "namedtuple")


@dataclass(frozen=True)
class ArraySpec:
    """The shape and dtype of one exported array. A dynamic dim is a name (all dims of one
    name have one size in a call: `float32[batch, 784]`) or None (a size of its own, `?`).
    sharding, for a leaf of a sharded function, names the mesh axes that split each dim
    (`(("x",), ())` is JAX's P('x', None)); None: one array on device 0."""

    shape: tuple
    dtype: np.dtype
    sharding: tuple | None = None

    def __str__(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        text = f"{self.dtype.name}[{dims}]"
        if self.sharding is None:
            return text
        return f"{text} sharded {meshes.spec_text(self.sharding)}"

    def to_json(self) -> dict:
        """The `array` node of this spec (see the module docstring)."""
        obj = {"kind": "array", "shape": list(self.shape), "dtype": self.dtype.name}
        if self.sharding is not None:
            obj["sharding"] = [list(axes) for axes in self.sharding]
        return obj


def _shape(dims) -> tuple:
    """A shape from artifact JSON: ints, names of dynamic dims, and null (older artifacts write
    only nulls: each a dynamic size of its own)."""
    for d in dims:
        if not (d is None or isinstance(d, int) or (isinstance(d, str) and d.isidentifier())):
            raise ArtifactError(f"bad dim {d!r} in artifact metadata; recompile the model")
    return tuple(dims)


def _dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise ArtifactError("this artifact uses bfloat16; `pip install ml_dtypes` to call "
                                "it from numpy") from None
        return np.dtype(ml_dtypes.bfloat16)
    # only numbers and bool, by their own names: numpy parses other strings ('f4,(2)i2',
    # '>f4', 'U8') into dtypes aotc never writes, and raises SyntaxError on some
    dtype = None
    if isinstance(name, str) and name.isidentifier():
        try:
            dtype = np.dtype(name)
        except TypeError:
            pass
    if dtype is None or dtype.kind not in "biufc" or dtype.name != name:
        raise ArtifactError(f"unknown dtype {name!r} in artifact metadata; recompile the model")
    return dtype


@dataclass(frozen=True)
class Node:
    """One node of an exported pytree: a leaf (`spec`) or a container of `children`."""

    kind: str
    children: tuple = ()
    keys: tuple = ()
    name: str = ""
    spec: ArraySpec | None = None

    @classmethod
    def from_json(cls, obj) -> "Node":
        kind = obj["kind"]
        if kind == "array":
            shape = _shape(obj["shape"])
            sharding = (meshes.parse_sharding(obj["sharding"], len(shape))
                        if obj.get("sharding") is not None else None)
            return cls(kind, spec=ArraySpec(shape, _dtype(obj["dtype"]), sharding))
        if kind == "none":
            return cls(kind)
        if kind not in _CONTAINERS:
            raise ArtifactError(f"unknown pytree node kind '{kind}' in artifact metadata")
        children = tuple(cls.from_json(c) for c in obj["children"])
        keys = tuple(obj.get("keys", obj.get("fields", ())))
        if kind in ("dict", "namedtuple"):
            _check_keys(kind, keys, obj.get("name", ""), len(children))
        return cls(kind, children, keys, obj.get("name", ""))

    def to_json(self) -> dict:
        """The JSON form that from_json reads back."""
        if self.kind == "array":
            return self.spec.to_json()
        if self.kind == "none":
            return {"kind": "none"}
        obj: dict = {"kind": self.kind}
        if self.kind == "dict":
            obj["keys"] = list(self.keys)
        elif self.kind == "namedtuple":
            obj.update(name=self.name, fields=list(self.keys))
        obj["children"] = [c.to_json() for c in self.children]
        return obj

    def flat_values(self, value) -> list:
        """The leaves of value, a pytree of this structure (what unflatten rebuilt), in order."""
        if self.kind == "array":
            return [value]
        if self.kind == "none":
            return []
        if self.kind == "dict":
            items = [value[k] for k in self.keys]
        elif self.kind == "namedtuple":
            items = [getattr(value, k) for k in self.keys]
        else:
            items = list(value)
        return [leaf for child, item in zip(self.children, items)
                for leaf in child.flat_values(item)]

    def leaves(self, path: tuple = ()) -> list[tuple[tuple, ArraySpec]]:
        """(path, spec) of every leaf, in flattening order."""
        if self.kind == "array":
            return [(path, self.spec)]
        out = []
        for key, child in zip(self._child_keys(), self.children):
            out.extend(child.leaves((*path, key)))
        return out

    def _child_keys(self) -> tuple:
        if self.kind in ("dict", "namedtuple"):
            return self.keys
        return tuple(range(len(self.children)))

    def __str__(self) -> str:
        if self.kind == "array":
            return str(self.spec)
        if self.kind == "none":
            return "None"
        inner = [str(c) for c in self.children]
        if self.kind == "dict":
            return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, inner)) + "}"
        if self.kind == "list":
            return "[" + ", ".join(inner) + "]"
        if self.kind == "namedtuple":
            return f"{self.name}(" + ", ".join(f"{k}={c}" for k, c in zip(self.keys, inner)) + ")"
        return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"

    # ---- calls ----
    def flatten(self, value, where: "_Where", out: list) -> None:
        """Check value against this node and append its leaves (numpy arrays) to out."""
        if self.kind == "array":
            if self.spec.sharding is not None and _is_block_list(value):
                out.append(_Blocks(value, where))  # checked by Signature, which knows the mesh
            else:
                out.append(_check_leaf(value, self.spec, where))
        elif self.kind == "none":
            if value is not None:
                raise where.error(f"expects None, got {_describe(value)}")
        elif self.kind == "dict":
            if not isinstance(value, collections.abc.Mapping):
                raise where.error(f"expects a dict with keys {list(self.keys)}, got "
                                  f"{_describe(value)}")
            if set(value) != set(self.keys):
                missing = [k for k in self.keys if k not in value]
                extra = [k for k in value if k not in self.keys]
                raise where.error(f"expects dict keys {list(self.keys)}: missing {missing}, "
                                  f"unexpected {extra}")
            for key, child in zip(self.keys, self.children):
                child.flatten(value[key], where.child(key), out)
        else:
            if not isinstance(value, (tuple, list)):
                raise where.error(f"expects a {self.kind} of {len(self.children)} items, got "
                                  f"{_describe(value)}")
            if len(value) != len(self.children):
                raise where.error(f"expects a {self.kind} of {len(self.children)} items, got "
                                  f"{len(value)} items")
            for i, child in enumerate(self.children):
                child.flatten(value[i], where.child(i), out)

    def unflatten(self, leaves):
        """Rebuild this tree from an iterator of leaves."""
        if self.kind == "array":
            return next(leaves)
        if self.kind == "none":
            return None
        children = [c.unflatten(leaves) for c in self.children]
        if self.kind == "dict":
            return dict(zip(self.keys, children))
        if self.kind == "list":
            return children
        if self.kind == "namedtuple":
            return _namedtuple(self.name, self.keys)(*children)
        return tuple(children)


def _check_keys(kind: str, keys: tuple, name: str, n: int) -> None:
    """ArtifactError unless a dict's keys or a namedtuple's fields name its n children once."""
    try:
        if len(set(keys)) != n or len(keys) != n:
            raise ValueError(f"{len(keys)} keys for {n} children")
        if kind == "namedtuple":
            _namedtuple(name, keys)
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"bad {kind} node in artifact metadata ({exc}); recompile the "
                            "model") from None


@functools.cache
def _namedtuple(name: str, fields: tuple):
    return collections.namedtuple(name, fields)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array {value.dtype.name}{list(value.shape)}"
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class _Where:
    """Names the function, argument and path inside it, for InputError messages."""

    function: str
    argument: str
    path: tuple = ()

    def child(self, key) -> "_Where":
        return _Where(self.function, self.argument, (*self.path, key))

    def block(self, p: int) -> "_Where":
        """The block of device p of this (sharded) leaf."""
        return _Where(self.function, f"{self.name} block {p}")

    @property
    def name(self) -> str:
        return self.argument + "".join(f"[{k!r}]" for k in self.path)

    def error(self, problem: str) -> InputError:
        return InputError(f"{self.function}(): argument {self.name} {problem}")


class _Blocks(list):
    """A sharded leaf given as its per-device blocks, with where it was found (for errors)."""

    def __init__(self, blocks, where: _Where):
        super().__init__(blocks)
        self.where = where


def _is_block_list(value) -> bool:
    """A list or tuple of arrays: the per-device blocks of a sharded leaf. (Nested Python
    numbers are a global value; stacked blocks would have one dim more than the leaf.)"""
    return isinstance(value, (list, tuple)) and len(value) > 0 and not _is_literal(value)


_PYTHON_KINDS = {"b": "b", "i": "iufc", "u": "iufc", "f": "fc", "c": "c"}
_SCALARS = (bool, int, float, complex)


def _is_literal(value) -> bool:
    """A Python scalar, or nested lists/tuples of them (no numpy arrays or numpy scalars)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not isinstance(item, _SCALARS) or isinstance(item, np.generic):
            return False
    return True


def _from_literal(value, spec: ArraySpec, where: _Where) -> np.ndarray:
    """A Python literal as an array of spec's dtype; InputError unless every value fits."""
    try:
        literal = np.asarray(value)
    except (ValueError, OverflowError) as exc:
        raise where.error(f"expects {spec}, got a Python value that is not an array "
                          f"({exc})") from None
    kind = literal.dtype.kind
    what = (f"the Python {type(value).__name__} {value!r}" if literal.ndim == 0 else
            f"a Python {type(value).__name__}" + (f" of {literal.dtype.name} values"
                                                  if kind != "O" else ""))
    if kind == "O" and all(isinstance(v, int) for v in literal.flat):  # beyond 64 bits
        example = max(literal.flat, key=abs)
        raise where.error(f"expects {spec}, got {what}: {example!r} does not fit "
                          f"{spec.dtype.name}")
    if spec.dtype.kind not in _PYTHON_KINDS.get(kind, ""):
        raise where.error(f"expects {spec}, got {what}")
    with np.errstate(all="ignore"):
        array = literal.astype(spec.dtype)
        if spec.dtype.kind in "fc" and kind in "fc":  # rounding is fine, overflow is not
            bad = np.isfinite(literal) & ~np.isfinite(array)
        elif spec.dtype.kind == "c":  # integers must convert exactly, into complex too
            bad = array != literal
        else:  # integers must convert exactly, into integers and into floats
            bad = array.astype(literal.dtype) != literal
    if np.any(bad):
        example = np.asarray(literal)[bad].flat[0].item() if literal.ndim else literal.item()
        raise where.error(f"expects {spec}, got {what}: {example!r} does not fit "
                          f"{spec.dtype.name}")
    return array


def _check_leaf(value, spec: ArraySpec, where: _Where) -> np.ndarray:
    """value as an array of spec's dtype in any layout or byte order (a call copies it at most
    once: aotc_runtime.devices.Transfer), or InputError naming what differs."""
    if type(value) is np.ndarray and value.dtype is spec.dtype:  # the common case
        array = value
    elif _is_literal(value):  # a Python literal takes spec's dtype, if every value fits it
        array = _from_literal(value, spec, where)
    else:
        try:
            array = np.asarray(value)
        except Exception as exc:  # noqa: BLE001 (any object's __array__ may raise anything)
            raise where.error(f"expects {spec}, got {_describe(value)} ({exc})") from None
        if array.dtype != spec.dtype and array.dtype.newbyteorder("=") != spec.dtype:
            raise where.error(f"expects {spec}, got {ArraySpec(array.shape, array.dtype)} "
                              f"(convert with .astype(np.{spec.dtype.name}))")
    if array.ndim != len(spec.shape) or any(
        isinstance(d, int) and d != n for d, n in zip(spec.shape, array.shape)
    ):
        raise where.error(f"expects {spec}, got {ArraySpec(array.shape, array.dtype)}")
    return array


class Signature:
    """What an exported function takes and returns.

    Example:
        >>> m.signature("predict")
        predict(params: {'b1': float32[128], ...}, x: float32[?, 784]) -> float32[?, 10]
    """

    def __init__(self, obj: dict):
        self.name: str = obj["name"]
        self.arg_names: tuple = tuple(a["name"] for a in obj["args"])
        self.args: tuple = tuple(Node.from_json(a["tree"]) for a in obj["args"])
        self.results: Node = Node.from_json(obj["results"])
        self.mesh: MeshSpec | None = (MeshSpec.from_json(obj["mesh"])
                                      if obj.get("mesh") is not None else None)
        self._check_shardings()
        # Per call, bind needs only these: each argument's _Where, and the (leaf name, spec,
        # flat index) of the leaves with named dims (check_dims has nothing to do without).
        self._wheres = tuple(_Where(self.name, n) for n in self.arg_names)
        self._named = [(leaf, spec, i) for i, (leaf, spec) in enumerate(self.arg_leaves())
                       if any(isinstance(d, str) for d in spec.shape)]

    @classmethod
    def of(cls, name: str, args: list[tuple[str, Node]], results: Node,
           mesh: MeshSpec | None = None) -> "Signature":
        """The signature of function name: (argument name, tree) pairs and the result tree;
        mesh for a sharded function (its leaves' ArraySpecs carry their shardings).

        Built through the JSON form, so whatever the compiler writes is known to read back.
        """
        obj = {"name": name, "args": [{"name": n, "tree": t.to_json()} for n, t in args],
               "results": results.to_json()}
        if mesh is not None:
            obj["mesh"] = mesh.to_json()
        return cls(obj)

    def to_json(self) -> dict:
        """The JSON object that Signature(obj) reads."""
        obj = {"name": self.name,
               "args": [{"name": n, "tree": a.to_json()}
                        for n, a in zip(self.arg_names, self.args)],
               "results": self.results.to_json()}
        if self.mesh is not None:
            obj["mesh"] = self.mesh.to_json()
        return obj

    def _check_shardings(self) -> None:
        """ArtifactError unless every sharded leaf fits the mesh (and there is one)."""
        for kind, leaves in (("argument", self.arg_leaves()), ("result", self.result_leaves())):
            for leaf, spec in leaves:
                if spec.sharding is None:
                    continue
                what = f"{self.name}() {kind} {leaf}"
                if self.mesh is None:
                    raise ArtifactError(f"{what} has a sharding but the signature no mesh; "
                                        "recompile the model")
                meshes.check_sharding(spec.sharding, spec.shape, self.mesh, what)

    def encode(self) -> str:
        """Compact JSON: the artifact's `aotc.signature` metadata string."""
        return json.dumps(self.to_json(), separators=(",", ":"))

    def __repr__(self) -> str:
        args = ", ".join(f"{n}: {a}" for n, a in zip(self.arg_names, self.args))
        on = "" if self.mesh is None else f" on {self.mesh}"
        return f"{self.name}({args}) -> {self.results}{on}"

    def arg_leaves(self) -> list[tuple[str, ArraySpec]]:
        """('x' or "params['w1']", spec) for every flat input, in call order."""
        return [(name + "".join(f"[{k!r}]" for k in path), spec)
                for name, node in zip(self.arg_names, self.args)
                for path, spec in node.leaves()]

    def result_leaves(self) -> list[tuple[str, ArraySpec]]:
        """('result' or 'probs' or '0/logits', spec) for every flat output."""
        return [("/".join(map(str, path)) or "result", spec)
                for path, spec in self.results.leaves()]

    def bind(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        """The flat, checked input arrays of a call with args and kwargs."""
        n = len(self.arg_names)
        if len(args) > n:
            raise InputError(f"{self.name}(): takes {n} argument(s) {list(self.arg_names)}, got "
                             f"{len(args)}")
        values = dict(zip(self.arg_names, args))
        for key, value in kwargs.items():
            if key not in self.arg_names:
                raise InputError(f"{self.name}(): unexpected argument '{key}'; arguments are "
                                 f"{list(self.arg_names)}")
            if key in values:
                raise InputError(f"{self.name}(): argument {key} given twice")
            values[key] = value
        missing = [a for a in self.arg_names if a not in values]
        if missing:
            raise InputError(f"{self.name}(): missing argument(s) {missing}; signature is {self}")
        flat: list = []
        for name, node, where in zip(self.arg_names, self.args, self._wheres):
            node.flatten(values[name], where, flat)
        if self.mesh is None:
            self.check_dims(flat)
            return flat
        return self._device_arrays(flat)

    # ---- sharded functions: per-device blocks ----
    def _device_arrays(self, flat: list) -> list[np.ndarray]:
        """The compiled function's inputs: each sharded leaf as its N blocks (split from a
        global array, or given as blocks and checked), every other leaf as it is."""
        out: list = []
        for (_, spec), value in zip(self.arg_leaves(), flat):
            if spec.sharding is None:
                out.append(value)
            elif isinstance(value, _Blocks):
                out.extend(self._check_blocks(value, spec))
            else:
                out.extend(meshes.split(value, spec.sharding, self.mesh))
        return out

    def _check_blocks(self, blocks: _Blocks, spec: ArraySpec) -> list[np.ndarray]:
        n = self.mesh.size
        if len(blocks) != n:
            raise blocks.where.error(f"is sharded {meshes.spec_text(spec.sharding)} over the "
                                     f"{self.mesh}: pass one global {spec.dtype.name}"
                                     f"{list(spec.shape)} array or a list of {n} per-device "
                                     f"blocks, not a list of {len(blocks)}")
        block = ArraySpec(meshes.block_shape(spec.shape, spec.sharding, self.mesh), spec.dtype)
        return [_check_leaf(b, block, blocks.where.block(p)) for p, b in enumerate(blocks)]

    def device_counts(self) -> tuple[list[int], list[int]]:
        """How many compiled-function values each flat argument and result leaf is: N for a
        sharded leaf of a function on N devices, else 1."""
        def count(spec):
            return 1 if spec.sharding is None else self.mesh.size
        return ([count(s) for _, s in self.arg_leaves()],
                [count(s) for _, s in self.result_leaves()])

    def placement(self) -> tuple[list[int], list[int]]:
        """The device of each compiled-function argument and result, in order: 0..N-1 for
        the blocks of a sharded leaf, 0 for any other leaf."""
        args, results = self.device_counts()
        return ([p for n in args for p in range(n)], [p for n in results for p in range(n)])

    def unflatten_results(self, outs: list, shards: bool = False):
        """The result pytree of the compiled function's flat outputs: sharded leaves
        assembled into global arrays, or (shards=True) left as lists of N blocks."""
        if self.mesh is None:
            return self.results.unflatten(iter(outs))
        leaves, at = [], 0
        for _, spec in self.result_leaves():
            if spec.sharding is None:
                leaves.append(outs[at])
                at += 1
                continue
            blocks = outs[at:at + self.mesh.size]
            at += self.mesh.size
            leaves.append(list(blocks) if shards else
                          meshes.assemble(blocks, spec.sharding, spec.shape, self.mesh))
        return self.results.unflatten(iter(leaves))

    def check_dims(self, arrays: list) -> None:
        """InputError unless every named dynamic dim has one size over the flat inputs (IREE
        checks none: a mismatch would read past the end of a buffer)."""
        seen: dict[str, tuple[str, int, int]] = {}
        for leaf, spec, i in self._named:
            array = arrays[i]
            for k, dim in enumerate(spec.shape):
                if not isinstance(dim, str):
                    continue
                first = seen.setdefault(dim, (leaf, k, array.shape[k]))
                if first[2] != array.shape[k]:
                    raise InputError(
                        f"{self.name}(): {first[0]} dim {first[1]} ('{dim}') is {first[2]} but "
                        f"{leaf} dim {k} ('{dim}') is {array.shape[k]}; dims named '{dim}' "
                        "must have one size in a call")
