"""Symbolic dims: what `x.shape` gives user code for a dynamic dimension while tracing.

    b, t, d = x.shape            # x: aotc.ShapeSpec(("batch", None, 4)); b and t are Dims
    y = x.reshape(b * t, d)      # the sizes are computed when the compiled program runs

A `Dim` is an integer polynomial over the run-time sizes of traced arrays' dynamic dims (with
`//` and `%` by sizes that don't divide exactly as opaque terms). It supports +, -, *, //, %
with ints and other Dims, `==` (structural: dims of one named ShapeSpec dim, or of one axis of
one array, are equal), and is accepted by reshape, broadcast_to, zeros/ones/full/empty and as a
scalar operand (`x.sum() / b`). Where Python needs its value (`int(b)`, `range(b)`, `b < 3`,
`if b:`) it raises a ConcretizationError naming the user's line and the dim.

Only user code sees Dims: aotc's own modules read a dynamic dim as None (their long-standing
convention), so `Tracer.shape` asks `from_user` who is calling.
"""

import os
import sys
import threading

import numpy as np

from aotc.frontend.core import registry
from aotc.frontend.core.errors import ConcretizationError, TracingError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.source import caller_site
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LIBRARY = tuple(_ROOT + os.sep + d + os.sep for d in ("frontend", "passes", "tools", "aotc"))


def from_user(depth: int = 2) -> bool:
    """Whether the function `depth` frames up (the caller of the caller) is user code."""
    return not sys._getframe(depth).f_code.co_filename.startswith(_LIBRARY)


# ---- names of the arguments' dynamic dims (aotc.ShapeSpec(("batch", 4))) ----

_NAMES = threading.local()
_MAX_NAMED = 4096  # argument values remembered per thread (names only matter while tracing)


def forget() -> None:
    """Drop the remembered names and Dims: called when a trace starts in a new context, because
    ir.Values of freed modules hash like the new values that reuse their addresses."""
    _NAMES.table, _NAMES.known = {}, {}


def name_arguments(arguments, specs) -> None:
    """Remember the dim names of traced arguments' ShapeSpecs (called by trace())."""
    names = getattr(_NAMES, "table", None)
    if names is None or len(names) > _MAX_NAMED:
        names = _NAMES.table = {}
    for value, spec in zip(arguments, specs):
        dims = getattr(spec, "names", ())
        if dims and any(dims):
            names[value] = tuple(dims)


def _dim_name(value: ir.Value, axis: int) -> str | None:
    names = getattr(_NAMES, "table", None)
    entry = names.get(value) if names else None
    return entry[axis] if entry and axis < len(entry) else None


# ---- Dim ----


class _Atom:
    """A run-time size: dim `axis` of `value` (key: its name, or the value and axis), or an
    opaque `a // b` / `a % b` of two Dims."""

    __slots__ = ("axis", "key", "op", "operands", "text", "value")

    def __init__(self, key, text, value=None, axis=None, op=None, operands=()):
        self.key, self.text = key, text
        self.value, self.axis, self.op, self.operands = value, axis, op, operands

    def emit(self) -> ir.Value:
        if self.value is not None:
            return shape_ops.get_dimension_size(self.value, self.axis)
        a, b = (d.emit() for d in self.operands)
        return _floor_div(a, b) if self.op == "//" else _floor_mod(a, b)


def _i32(n: int) -> ir.Value:
    return values.scalar(n, ir.IntegerType.get_signless(32))


def _wrong_sign(r: ir.Value, b: ir.Value) -> ir.Value:
    """Where a truncated remainder r of a / b is nonzero with a sign other than b's."""
    zero = _i32(0)
    signs_differ = ew.compare("NE", ew.compare("LT", r, zero), ew.compare("LT", b, zero))
    return ew.and_(ew.compare("NE", r, zero), signs_differ)


def _floor_div(a: ir.Value, b: ir.Value) -> ir.Value:
    q = ew.divide(a, b)
    return ew.select(_wrong_sign(ew.remainder(a, b), b), ew.subtract(q, _i32(1)), q)


def _floor_mod(a: ir.Value, b: ir.Value) -> ir.Value:
    r = ew.remainder(a, b)
    return ew.select(_wrong_sign(r, b), ew.add(r, b), r)


def _monomial_text(monomial, atoms) -> str:
    return "*".join(atoms[k].text for k in monomial)


class Dim:
    """A dynamic dimension of a traced array, as `x.shape` gives it to user code: an integer
    known when the compiled program runs. See the module docstring.

    Example:
        >>> b, t, d = x.shape
        >>> x.reshape(b * t, d), anp.zeros((b, 3)), x.sum() / b
    """

    __slots__ = ("atoms", "terms")
    __array_priority__ = 200  # numpy scalars defer to Dim's operators

    def __init__(self, terms: dict, atoms: dict):
        self.terms = {m: c for m, c in terms.items() if c}  # monomial (sorted keys) -> coef
        self.atoms = atoms

    # ---- construction ----
    @staticmethod
    def of(value: ir.Value, axis: int, shape_text: str = "") -> "Dim":
        name = _dim_name(value, axis)
        key = ("name", name) if name else ("axis", value, axis)
        text = name or f"dim {axis} of a {shape_text or 'traced'} array"
        atom = _Atom(key, text, value=value, axis=axis)
        return Dim({(key,): 1}, {key: atom})

    @staticmethod
    def _lift(other):
        if isinstance(other, Dim):
            return other
        if isinstance(other, (int, np.integer)) and not isinstance(other, (bool, np.bool_)):
            return Dim({(): int(other)}, {})
        return None

    def constant(self) -> int | None:
        """The int this Dim always equals, else None."""
        if not self.terms:
            return 0
        if list(self.terms) == [()]:
            return self.terms[()]
        return None

    def _result(self, terms: dict, atoms: dict):
        out = Dim(terms, atoms)
        c = out.constant()
        return c if c is not None else out

    # ---- arithmetic ----
    def __add__(self, other):
        other = Dim._lift(other)
        if other is None:
            return NotImplemented
        terms = dict(self.terms)
        for m, c in other.terms.items():
            terms[m] = terms.get(m, 0) + c
        return self._result(terms, {**self.atoms, **other.atoms})

    __radd__ = __add__

    def __neg__(self):
        return self._result({m: -c for m, c in self.terms.items()}, self.atoms)

    def __pos__(self):
        return self

    def __sub__(self, other):
        other = Dim._lift(other)
        return NotImplemented if other is None else self + (-other)

    def __rsub__(self, other):
        other = Dim._lift(other)
        return NotImplemented if other is None else other + (-self)

    def __mul__(self, other):
        other = Dim._lift(other)
        if other is None:
            return NotImplemented
        terms: dict = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = tuple(sorted(m1 + m2, key=_order))
                terms[m] = terms.get(m, 0) + c1 * c2
        return self._result(terms, {**self.atoms, **other.atoms})

    __rmul__ = __mul__

    def _divmod(self, other, op: str, swap: bool = False):
        other = Dim._lift(other)
        if other is None:
            return NotImplemented
        a, b = (other, self) if swap else (self, other)
        exact = a._exact_div(b)
        if exact is not None:
            return exact if op == "//" else 0
        key = (op, a._key(), b._key())
        atom = _Atom(key, f"({a}) {op} ({b})", op=op, operands=(a, b))
        return Dim({(key,): 1}, {key: atom})

    def __floordiv__(self, other):
        return self._divmod(other, "//")

    def __rfloordiv__(self, other):
        return self._divmod(other, "//", swap=True)

    def __mod__(self, other):
        return self._divmod(other, "%")

    def __rmod__(self, other):
        return self._divmod(other, "%", swap=True)

    def __truediv__(self, other):
        raise ConcretizationError(
            f"{caller_site()}: {self} / {other}: true division of a dynamic dim has no integer "
            "size; use // for a size, or divide an array by the dim (x.sum() / b) for values")

    def __rtruediv__(self, other):
        raise ConcretizationError(
            f"{caller_site()}: {other} / {self}: true division by a dynamic dim has no integer "
            "size; divide an array by it instead (anp.asarray(1.0) / b)")

    def _exact_div(self, other: "Dim"):
        """self / other when other is one term that divides every term of self, else None."""
        if len(other.terms) != 1:
            return None
        (dm, dc), = other.terms.items()
        if dc == 0:
            return None
        terms = {}
        for m, c in self.terms.items():
            rest = list(m)
            for k in dm:
                if k not in rest:
                    return None
                rest.remove(k)
            if c % dc:
                return None
            terms[tuple(rest)] = c // dc
        return self._result(terms, self.atoms)

    # ---- comparisons: structural equality only ----
    def _key(self):
        return frozenset(self.terms.items())

    def __eq__(self, other):
        other = Dim._lift(other)
        return other is not None and self._key() == other._key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self._key())

    def _unknown(self, what: str):
        raise ConcretizationError(
            f"{caller_site()}: {what} needs the value of the dynamic dim {self}, which is only "
            "known when the compiled program runs. Dims can be added, multiplied, divided "
            "(//, %) and passed to reshape, broadcast_to, zeros/ones/full and arithmetic "
            "with arrays; for anything else give the dim a static size in the ShapeSpec")

    def __lt__(self, other):
        self._unknown("comparing it with <")

    def __le__(self, other):
        self._unknown("comparing it with <=")

    def __gt__(self, other):
        self._unknown("comparing it with >")

    def __ge__(self, other):
        self._unknown("comparing it with >=")

    def __bool__(self):
        self._unknown("bool() (an `if` or `while`)")

    def __index__(self):
        self._unknown("using it as a Python int (range(), numpy shapes, indexing)")

    def __int__(self):
        self._unknown("int()")

    def __float__(self):
        self._unknown("float()")

    def __str__(self) -> str:
        parts = []
        for m, c in sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), str(mc[1]))):
            text = _monomial_text(m, self.atoms)
            if not text:
                parts.append(str(c))
            else:
                parts.append(text if c == 1 else f"-{text}" if c == -1 else f"{c}*{text}")
        return " + ".join(parts).replace("+ -", "- ") or "0"

    def __repr__(self) -> str:
        return f"Dim({self})"

    # ---- emission ----
    def emit(self) -> ir.Value:
        """The dim's value as a 0-d i32 tensor, emitted at the current insertion point."""
        total = None
        for m, c in self.terms.items():
            term = _i32(c) if not m or c != 1 else None
            for k in m:
                size = self.atoms[k].emit()
                term = size if term is None else ew.multiply(term, size)
            total = term if total is None else ew.add(total, term)
        return total if total is not None else _i32(0)


def _order(key):
    return hash(key)


# ---- shapes with Dims ----


def remember(value: ir.Value, shape) -> ir.Value:
    """Record that value (a reshape or broadcast to `shape`) has these Dims; returns value."""
    known = getattr(_NAMES, "known", None)
    if known is None or len(known) > _MAX_NAMED:
        known = _NAMES.known = {}
    known[value] = tuple(shape)
    return value


def _ints(op, name: str) -> list[int]:
    return [int(v) for v in ir.DenseI64ArrayAttr(op.attributes[name])]


def _operand_axis(value: ir.Value, axis: int):
    """(operand, its axis) that dynamic `axis` of value is a copy of, or None: through
    elementwise ops, transposes, broadcasts and reductions."""
    if not isinstance(value, ir.OpResult):
        return None
    op = value.owner.operation
    if registry.has_trait(op.name, "same_shape"):
        same = [v for v in op.operands if shape_of(v) == shape_of(value)]
        same.sort(key=_is_broadcast)  # prefer an array over a broadcast scalar
        return (same[0], axis) if same else None
    if op.name == "stablehlo.transpose":
        return op.operands[0], _ints(op, "permutation")[axis]
    if op.name in ("stablehlo.broadcast_in_dim", "stablehlo.dynamic_broadcast_in_dim"):
        dims = _ints(op, "broadcast_dimensions")
        operand = op.operands[0]
        if axis in dims and shape_of(operand)[dims.index(axis)] is None:
            return operand, dims.index(axis)
        return _size_source(op.operands[1], axis) if len(op.operands) > 1 else None
    if op.name == "stablehlo.reduce" and len(op.operands) == 2:
        reduced = set(_ints(op, "dimensions"))
        kept = [k for k in range(len(shape_of(op.operands[0]))) if k not in reduced]
        return op.operands[0], kept[axis]
    return None


def _is_broadcast(value: ir.Value) -> bool:
    return isinstance(value, ir.OpResult) and value.owner.operation.name in (
        "stablehlo.broadcast_in_dim", "stablehlo.dynamic_broadcast_in_dim")


def _size_source(sizes: ir.Value, k: int):
    """(array, axis) whose get_dimension_size is entry k of a 1-D shape tensor built as a
    concatenate of reshaped sizes (core.shape_tensor, symbolic.shape_tensor), else None."""
    if not isinstance(sizes, ir.OpResult):
        return None
    op = sizes.owner.operation
    if op.name == "stablehlo.concatenate":
        for part in op.operands:
            n = shape_of(part)[0]
            if n is None:
                return None
            if k < n:
                return _size_source(part, k)
            k -= n
        return None
    if op.name == "stablehlo.reshape":
        inner = op.operands[0]
        owner = inner.owner.operation if isinstance(inner, ir.OpResult) else None
        if owner is not None and owner.name == "stablehlo.get_dimension_size":
            return owner.operands[0], int(ir.IntegerAttr(owner.attributes["dimension"]).value)
    return None


def _dim_of(value: ir.Value, axis: int, text: str) -> Dim:
    """The Dim of dynamic `axis` of value: a recorded reshape's or broadcast's Dim, or the size
    of the array (argument, or other op's result) it is a copy of."""
    known = getattr(_NAMES, "known", None) or {}
    for _ in range(1000):
        entry = known.get(value)
        if entry is not None and isinstance(entry[axis], Dim):
            return entry[axis]
        source = _operand_axis(value, axis)
        if source is None:
            break
        value, axis = source
    return Dim.of(value, axis, text)


def user_shape(value: ir.Value) -> tuple:
    """value's shape with each dynamic dim as a Dim."""
    shape = shape_of(value)
    text = "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
    return tuple(d if d is not None else _dim_of(value, i, text) for i, d in enumerate(shape))


def has_dims(shape) -> bool:
    return any(isinstance(d, Dim) for d in shape)


def static_or_none(shape) -> tuple:
    """The result type's shape: None for every Dim."""
    return tuple(None if isinstance(d, Dim) else int(d) for d in shape)


def shape_tensor(shape) -> ir.Value:
    """A 1-D i32 tensor of a shape of ints and Dims, emitted at the insertion point."""
    parts = [shape_ops.reshape(d.emit() if isinstance(d, Dim) else _i32(int(d)), (1,))
             for d in shape]
    return shape_ops.concatenate(parts, 0) if parts else shape_ops.constant(
        np.zeros(0, np.int32))


def broadcast(x: ir.Value, shape) -> ir.Value:
    """x broadcast (NumPy's trailing alignment) to a shape of ints and Dims."""
    rank = len(shape)
    x_shape = shape_of(x)
    target = ", ".join(str(d) for d in shape)
    if len(x_shape) > rank:
        raise TracingError(f"{caller_site()}: cannot broadcast an array of rank {len(x_shape)} "
                           f"to the lower rank shape ({target})")
    for have, want in zip(x_shape, shape[rank - len(x_shape):]):
        if have is not None and have != 1 and want != have:
            raise TracingError(f"{caller_site()}: cannot broadcast a dim of size {have} to "
                               f"{want} (shape ({target}))")
    dims = list(range(rank - len(x_shape), rank))
    return remember(shape_ops.broadcast_in_dim(x, static_or_none(shape), dims,
                                               shape_tensor(shape)), shape)
