"""Named dynamic dims: which dims of a traced function must be equal, checked while tracing.

Every dynamic dim of an argument is a symbol: the name the user gave it
(`aotc.ShapeSpec(("batch", 784))`), or a symbol of its own for a bare None. This pass walks the
function with an environment mapping each value to its dims (static ints or `Sym`s), using each
op's "dims" rule (filled beside the op in frontend/ops), and raises a TracingError naming the
user's line where an op needs two dims equal that may differ at run time: `a - b` with two bare
None dims. IREE 3.13 checks none of this at run time: mismatched sizes read past a buffer's end.

An op without a rule gets the safe default: its static result dims as typed, and each dynamic
result dim a fresh symbol, equal to nothing else. Small integer tensors that hold sizes
(get_dimension_size, constants, their reshapes and concatenations) also carry their entries as
dims (`Info.content`), so a dynamic_broadcast_in_dim's or real_dynamic_slice's result dims are
known.
"""

from dataclasses import dataclass
from fractions import Fraction

from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.registry import TABLES
from aotc.frontend.core.source import location_text
from aotc.passes.functions import find_function, verify_after
from aotc.passes.walker import RuleContext, Walker


@dataclass(frozen=True)
class Sym:
    """A dynamic size: coef times the product of named symbols (reshapes multiply sizes)."""

    names: tuple
    coef: Fraction = Fraction(1)


def _as_sym(d) -> Sym:
    return d if isinstance(d, Sym) else Sym((), Fraction(d))


def _normal(s: Sym):
    if s.names:
        return s
    return int(s.coef) if s.coef.denominator == 1 else None


def times(a, b):
    """a * b of two dims (ints or Syms); None (unknown) if either is."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    a, b = _as_sym(a), _as_sym(b)
    return _normal(Sym(tuple(sorted(a.names + b.names)), a.coef * b.coef))


def divide(a, b):
    """a / b where b is a nonzero int; None (unknown) otherwise."""
    if a is None or not isinstance(b, int) or b == 0:
        return None
    s = _as_sym(a)
    return _normal(Sym(s.names, s.coef / b))


def product(dims):
    out = 1
    for d in dims:
        out = times(out, d)
    return out


@dataclass(frozen=True)
class Info:
    """What the pass knows of a value: its dims, and the entries of a small integer tensor that
    holds sizes (`content`, None when not known)."""

    dims: tuple
    content: tuple | None = None


class DimsContext(RuleContext):
    """What a dims rule sees: its operands' dims and contents, and checks of equal dims."""

    def dims(self, i: int) -> tuple:
        return self.walker.read(self.op.operands[i]).dims

    def content(self, i: int) -> tuple | None:
        return self.walker.read(self.op.operands[i]).content

    @property
    def num_operands(self) -> int:
        return len(self.op.operands)

    def equal(self, i: int, a: int, j: int, b: int):
        """Operand i's dim a and operand j's dim b must be equal; returns that dim."""
        return self.walker.unify(self.op, self.dims(i)[a], self.dims(j)[b])

    def same_shape(self, operands=None) -> tuple:
        """The dims shared by operands (default: all; 0-d ones are skipped, as select's and
        clamp's scalar operands), checked position by position."""
        indices = [i for i in (range(self.num_operands) if operands is None else operands)
                   if self.dims(i)]
        if not indices:
            return ()
        first = indices[0]
        out = list(self.dims(first))
        for j in indices[1:]:
            for a in range(min(len(out), len(self.dims(j)))):
                out[a] = self.walker.unify(self.op, out[a], self.dims(j)[a])
        return tuple(out)

    def info(self, dims, content=None) -> Info:
        """A rule's answer for one result: its dims (None = as typed) and content."""
        return Info(tuple(dims), None if content is None else tuple(content))

    def times(self, a, b):
        return times(a, b)

    def divide(self, a, b):
        return divide(a, b)

    def product(self, dims):
        return product(dims)

    def fresh(self, dim: int) -> Sym:
        return self.walker.fresh(self.op, dim)

    def region(self, k: int, args: list) -> list:
        """The Infos region k's block returns, with its arguments bound to args."""
        return self.walker.run_block(self.op.regions[k].blocks[0], args)


class DimChecker(Walker):
    """Source values become `Info`s; each op runs its "dims" rule (or the default)."""

    table = "dims"

    def __init__(self, module):
        super().__init__(module)
        self.origin: dict[str, str] = {}  # a named symbol -> the first argument dim it names
        self.fresh_count = 0

    def argument(self, leaf: str, dims) -> Info:
        """The Info of an argument leaf named leaf ('x', "params['w']") with dims of ints,
        names and None (a symbol of its own)."""
        out = []
        for i, d in enumerate(dims):
            if isinstance(d, str):
                self.origin.setdefault(d, f"{leaf} dim {i}")
                out.append(Sym((d,)))
            elif d is None:
                out.append(Sym((f"{leaf} dim {i}",)))
            else:
                out.append(int(d))
        return Info(tuple(out))

    def fresh(self, op: ir.Operation, dim: int) -> Sym:
        self.fresh_count += 1
        where = location_text(op.location)
        at = f" at {where}" if where else ""
        return Sym((f"dim {dim} of the {_short(op)}{at} (#{self.fresh_count})",))

    def describe(self, d) -> str:
        if isinstance(d, int):
            return f"the static size {d}"
        factors = [f"'{n}' ({self.origin.get(n, 'named')})" if n.isidentifier() else n
                   for n in d.names]
        if d.coef != 1:
            factors.insert(0, str(d.coef))
        return " * ".join(factors)

    def unify(self, op: ir.Operation, a, b):
        """The one dim that a and b must both be, or TracingError naming both."""
        if a == b or (isinstance(a, int) and isinstance(b, int)):
            return a  # two different static sizes are a type error the verifier reports
        where = location_text(op.location)
        raise TracingError(
            f"{where + ': ' if where else ''}{_short(op)} needs equal sizes, but "
            f"{self.describe(a)} and {self.describe(b)} can differ at run time. If they are "
            "always equal, give both dims one name (e.g. aotc.ShapeSpec(('n', ...)) for "
            "each); else make the shapes match explicitly (slice, pad or broadcast)")

    def result(self, op: ir.Operation, i: int, out) -> Info:
        """A rule's answer for result i (an Info, a dims tuple, or None for the default), with
        unknown dims (None) as typed: static, or a fresh symbol."""
        info = out if isinstance(out, Info) else Info(tuple(out) if out is not None else ())
        typed = shape_of(op.results[i].type)
        dims = list(info.dims) if out is not None else [None] * len(typed)
        dims += [None] * (len(typed) - len(dims))
        for k, t in enumerate(typed):
            if t is not None:
                dims[k] = t
            elif dims[k] is None:
                dims[k] = self.fresh(op, k)
        return Info(tuple(dims), info.content)

    def visit(self, op: ir.Operation) -> list:
        rule = TABLES["dims"].get(op.name)
        outs = rule(DimsContext(op, self)) if rule is not None else [None] * len(op.results)
        return [self.result(op, i, out) for i, out in enumerate(outs)]


def _short(op: ir.Operation) -> str:
    return op.name.rpartition(".")[2]


def check(module, function: str, arguments: list[tuple[str, tuple]]) -> list[tuple]:
    """Check function's dims, given (leaf name, dims) of every argument leaf; returns the dims
    of each result, with named symbols as their names and other dynamic dims as None.

    Example:
        >>> check(traced.module, "main", [("a", (None,)), ("b", (None,))])  # a - b
        TracingError: model.py:3:11: subtract needs equal sizes, but a dim 0 and b dim 0 ...
    """
    with module.context:
        checker = DimChecker(module)
        args = [checker.argument(leaf, dims) for leaf, dims in arguments]
        outs = checker.run_function(function, args)
    verify_after(find_function(module, function), "dims")
    return [tuple(_public(d) for d in info.dims) for info in outs]


def _public(d):
    if isinstance(d, int):
        return d
    if len(d.names) == 1 and d.coef == 1 and d.names[0].isidentifier():
        return d.names[0]
    return None
