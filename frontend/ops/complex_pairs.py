"""Complex values as (real, imaginary) pairs of float values, for IREE backends that cannot load
or store complex elements (vmvx: "'util.buffer.load' op result #0 must be index or integer or
floating-point, but got 'complex<f32>'").

`split_complex(module, target)` rewrites every function in place so that no op inside it reads or
writes a complex tensor: each complex value becomes two float tensors of its shape, and each op
on complex values becomes ops on those parts: elementwise math by its formula (division and
sqrt as numpy computes them), structural ops (reshape, slice, gather, pad, ...) and set/add
scatters once per part, dot_general as real products, and reduce / while / if / case / map with
their complex operands, results and block arguments split in place. Private functions are
inlined first. Public functions keep their complex signature: a complex argument is
reinterpreted as float32 with a trailing dimension of 2 (`flow.tensor.bitcast`, which vmvx
compiles; `stablehlo.bitcast_convert` refuses complex <-> real) and split into its parts; a
complex result is packed back the same way. An op this rewrite has no rule for (e.g. complex
sort, maximum, chlo functions) raises CompileError naming the op, its source line and the target.
Float atan2 and sign, which the split emits and IREE expands with math.copysign (which vmvx
cannot compile), are rewritten without it by `replace_copysign_users`, which
aotc.frontend.ops.vmvx.legalize_for_vmvx runs on every vmvx program, complex or not.

A pair's imaginary part may be None, meaning zero: values converted from real ones (the input of
an rfft, a real matrix in a complex product) then cost no extra work.
"""

import re

import numpy as np
from iree.compiler.passmanager import PassManager

from aotc.frontend.core import dtypes
from aotc.frontend.core.emit import with_element
from aotc.frontend.core.errors import CompileError
from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.core.source import at_location, location_text
from aotc.frontend.ops import complex as cx
from aotc.frontend.ops import elementwise as ew
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

__all__ = ["replace_copysign_users", "split_complex"]

Pair = tuple  # (re, im): two float values of one shape; im None means zero


def split_complex(module: ir.Module, target: str) -> ir.Module:
    """Rewrite every function of module in place so that no op inside it has complex values
    (see the module docstring); raises CompileError for an op without a pair rule."""
    # private functions (autodiff's, loops') are inlined first: their signatures stay complex
    PassManager.parse("builtin.module(inline,symbol-dce)").run(module.operation)
    lowering = _Lowering(target)
    for op in module.body.operations:
        if op.operation.name == "func.func":
            lowering.function(op.operation)
    lowering.erase_dead()
    return module


def replace_copysign_users(module: ir.Module) -> None:
    """Every float stablehlo.atan2 and stablehlo.sign (anp.angle has both) rewritten without
    math.copysign, which IREE's expansions of them use and vmvx fails to compile (in some
    dispatches: it depends on what IREE fuses). The float atan2 and sign that split_complex
    emits need it as much as those of real programs (aotc.lax.atan2, anp.sign)."""
    found = []

    def collect(op):
        op = op.operation
        if op.name in _WITHOUT_COPYSIGN and isinstance(
                ir.RankedTensorType(op.results[0].type).element_type, ir.FloatType):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for op in found:
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            new = _WITHOUT_COPYSIGN[op.name](*op.operands)
        op.results[0].replace_all_uses_with(new)
        op.erase()


def _real_sign(x: ir.Value) -> ir.Value:
    """sign of a float: 1, -1, NaN, or a zero of x's sign (for +-0, and for denormals, which
    IREE's compares flush to zero as XLA's do: the CPU targets give zeros too)."""
    zero = values.zeros_like(x)
    i32 = ir.IntegerType.get_signless(32)
    sign_bit = ew.and_(ew.bitcast_convert(x, i32), values.full_like(x, -2**31, i32))
    signed_zero = ew.bitcast_convert(sign_bit, values.element(x))
    small = ew.select(ew.compare("NE", x, x), x, signed_zero)
    return ew.select(ew.compare("GT", x, zero), _const(1, x),
                     ew.select(ew.compare("LT", x, zero), _const(-1, x), small))


def _is_complex(v: ir.Value | ir.Type) -> bool:
    t = v if isinstance(v, ir.Type) else v.type
    return isinstance(t, ir.RankedTensorType) and isinstance(t.element_type, ir.ComplexType)


def _part_type(t: ir.Type) -> ir.Type:
    """tensor<...xcomplex<f32>> -> tensor<...xf32>; a real type stays."""
    return with_element(t, cx.part_element(ir.RankedTensorType(t).element_type)) \
        if _is_complex(t) else t


class _Lowering:
    """The state of one rewrite: complex values already split (env) and the replaced ops, erased
    at the end, once nothing uses them."""

    def __init__(self, target: str):
        self.target = target
        self.env: dict = {}
        self.dead: list = []

    # ---- walking ---------------------------------------------------------------------------

    def function(self, fn: ir.Operation) -> None:
        """Split one func.func: complex arguments of a public function are unpacked at entry
        (private functions with complex signatures are refused), then every op is rewritten."""
        fn_type = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        if any(_is_complex(t) for t in [*fn_type.inputs, *fn_type.results]) and \
                "sym_visibility" in fn.attributes and \
                ir.StringAttr(fn.attributes["sym_visibility"]).value == "private":
            raise self.error(fn, "a private function with complex arguments or results")
        if not fn.regions[0].blocks:
            return
        block = fn.regions[0].blocks[0]
        ops = list(block.operations)
        with ir.InsertionPoint(ops[0]), fn.location, at_location(fn.location):
            for arg in block.arguments:
                if _is_complex(arg):
                    self.env[arg] = self.unpack(arg, fn)
        self.ops(ops)

    def block(self, block: ir.Block) -> None:
        self.ops(list(block.operations))

    def ops(self, ops: list) -> None:
        """Rewrite ops in order (a list taken before the rewrite inserts anything)."""
        for op in ops:
            self.op(op.operation)

    def op(self, op: ir.Operation) -> None:
        """Rewrite op if it touches complex values; otherwise look inside its regions."""
        if not any(_is_complex(v) for v in [*op.operands, *op.results]):
            for region in op.regions:
                for block in region.blocks:
                    self.block(block)
            return
        # listed before the ops of its regions are rewritten: erase_dead goes backwards, so those
        # (which use op's block arguments) go first
        self.dead.append(op)
        with ir.InsertionPoint(op), op.location, at_location(op.location):
            outs = self.rewrite(op)
        for result, out in zip(op.results, outs):
            if _is_complex(result):
                self.env[result] = out
            else:
                result.replace_all_uses_with(out)

    def rewrite(self, op: ir.Operation) -> list:
        """op's results as pairs (complex) or values (real), built at the insertion point."""
        name = op.name
        if name in _IN_PLACE:
            return self.split_in_place(op)
        rule = _RULES.get(name) or (_by_parts if name in _BY_PARTS else None)
        if rule is None:
            raise self.error(op, f"{name} on complex values")
        args = [self.pair(v) if _is_complex(v) else v for v in op.operands]
        return rule(self, op, args)

    def erase_dead(self) -> None:
        """Erase the replaced ops, users before the values they use (the reverse of the order in
        which they were rewritten)."""
        for op in reversed(self.dead):
            op.erase()
        self.dead = []

    def error(self, op: ir.Operation, what: str) -> CompileError:
        where = location_text(op.location)
        return CompileError(f"{where + ': ' if where else ''}{what} does not compile for target "
                            f"'{self.target}': IREE's vmvx backend cannot load or store complex "
                            "elements, and aotc's split into real and imaginary parts has no rule "
                            "for it; compile for 'cpu' or 'vulkan', or keep real and imaginary "
                            "parts as two float32 arrays")

    # ---- pairs -----------------------------------------------------------------------------

    def pair(self, v: ir.Value) -> Pair:
        if v not in self.env:
            raise CompileError(f"a complex value of type {v.type} is defined outside the "
                               f"functions aotc splits into real and imaginary parts for target "
                               f"'{self.target}'; compile for 'cpu' or 'vulkan'")
        return self.env[v]

    @staticmethod
    def im(p: Pair) -> ir.Value:
        """The imaginary part of a pair, zeros materialized where it is None."""
        return values.zeros_like(p[0]) if p[1] is None else p[1]

    def unpack(self, z: ir.Value, where: ir.Operation) -> Pair:
        """A complex argument's parts: bitcast to float with a trailing 2, moved first, sliced."""
        shape = shape_of(z)
        if None in shape:
            raise self.error(where, "a complex argument with dynamic dimensions")
        part = cx.part_element(ir.RankedTensorType(z.type).element_type)
        both = ir.Operation.create(
            "flow.tensor.bitcast", results=[ir.RankedTensorType.get([*shape, 2], part)],
            operands=[z], attributes={"operandSegmentSizes": ir.DenseI32ArrayAttr.get([1, 0, 0])}
        ).result
        # parts first, then sliced: slices straight off the bitcast buffer make IREE 3.13
        # (vmvx and llvm-cpu) fail at run time when a while and an if both read them
        # ("indirect buffer reference slot 0 is out range of the declared binding capacity")
        rank = len(shape)
        planes = shape_ops.transpose(both, [rank, *range(rank)])
        return tuple(shape_ops.reshape(shape_ops.slice(planes, [k] + [0] * rank, [k + 1, *shape]),
                                       shape) for k in (0, 1))

    def pack(self, p: Pair, complex_type: ir.Type) -> ir.Value:
        """A pair as a complex value (for a public function's result): the inverse of unpack."""
        shape = shape_of(p[0])
        if None in shape:
            raise self.error(p[0].owner, "a complex result with dynamic dimensions")
        both = shape_ops.concatenate([shape_ops.reshape(v, [*shape, 1])
                                      for v in (p[0], self.im(p))], len(shape))
        return ir.Operation.create(
            "flow.tensor.bitcast", results=[complex_type], operands=[both],
            attributes={"operandSegmentSizes": ir.DenseI32ArrayAttr.get([1, 0, 0])}).result

    def flat(self, args) -> list:
        """Operands with each pair in place of its complex value as two values."""
        out = []
        for a in args:
            out += [a[0], self.im(a)] if isinstance(a, tuple) else [a]
        return out

    # ---- ops with regions and variadic ops: complex operands, results, block args split ------

    def split_in_place(self, op: ir.Operation) -> list:
        """op rebuilt with every complex operand, result and block argument replaced by its two
        parts at its position (the layout reduce, while, if, case and map expect), its
        regions moved in and rewritten."""
        args = [self.pair(v) if _is_complex(v) else v for v in op.operands]
        types = []
        for r in op.results:
            types += [_part_type(r.type)] * (2 if _is_complex(r) else 1)
        new = ir.Operation.create(op.name, results=types, operands=self.flat(args),
                                  attributes={a: op.attributes[a] for a in _names(op)},
                                  regions=len(op.regions))
        for old_region, new_region in zip(op.regions, new.regions):
            for old in old_region.blocks:
                arg_types = []
                for a in old.arguments:
                    arg_types += [_part_type(a.type)] * (2 if _is_complex(a) else 1)
                block = new_region.blocks.append(*arg_types)
                fresh = iter(block.arguments)
                for a in old.arguments:
                    if _is_complex(a):
                        self.env[a] = (next(fresh), next(fresh))
                    else:
                        a.replace_all_uses_with(next(fresh))
                for inner in list(old.operations):
                    block.append(inner)
                self.block(block)
        results = iter(new.results)
        return [(next(results), next(results)) if _is_complex(r) else next(results)
                for r in op.results]


def _names(op: ir.Operation) -> list[str]:
    return [a if isinstance(a, str) else a.name for a in op.attributes]


# ---- real arithmetic helpers -------------------------------------------------------------------


def _const(value, like: ir.Value) -> ir.Value:
    return values.full_like(like, value)


def _is_negative(x: ir.Value) -> ir.Value:
    """x's sign bit (true for -0.0 too), as numpy's copysign reads it."""
    bits = ew.bitcast_convert(x, ir.IntegerType.get_signless(32))
    return ew.compare("LT", bits, values.zeros_like(bits))


def _copysign(magnitude: ir.Value, sign_of: ir.Value) -> ir.Value:
    return ew.select(_is_negative(sign_of), ew.negate(magnitude), magnitude)


def _atan(t: ir.Value) -> ir.Value:
    """arctan of t >= 0 (Cephes' atanf: range reduction to |u| <= tan(pi/8), odd polynomial)."""
    big = ew.compare("GT", t, _const(2.414213562373095, t))
    mid = ew.compare("GT", t, _const(0.4142135623730950, t))
    base = ew.select(big, _const(np.pi / 2, t), ew.select(mid, _const(np.pi / 4, t),
                                                          values.zeros_like(t)))
    one = _const(1, t)
    # 1 / t only where t is big: a t that IREE folds to 0 would be a division by constant zero
    u = ew.select(big, ew.negate(ew.divide(one, ew.select(big, t, one))),
                  ew.select(mid, ew.divide(ew.subtract(t, one), ew.add(t, one)), t))
    z = ew.multiply(u, u)
    poly = _const(8.05374449538e-2, t)
    for c in (-1.38776856032e-1, 1.99777106478e-1, -3.33329491539e-1):
        poly = ew.add(ew.multiply(poly, z), _const(c, t))
    return ew.add(base, ew.add(ew.multiply(ew.multiply(poly, z), u), u))


def _atan2(y: ir.Value, x: ir.Value) -> ir.Value:
    """atan2 with numpy's signed zeros, infinities and NaNs, without math.copysign (IREE's own
    expansion of stablehlo.atan2 uses it, and vmvx fails to compile it in some dispatches). NaN
    is passed on explicitly: IREE folds 0 / x to 0, so atan2(0, NaN) would be 0."""
    ay, ax = ew.abs(y), ew.abs(x)
    zeros = ew.and_(ew.compare("EQ", ay, values.zeros_like(ay)),
                    ew.compare("EQ", ax, values.zeros_like(ax)))
    inf = _const(np.inf, ax)
    infs = ew.and_(ew.compare("EQ", ay, inf), ew.compare("EQ", ax, inf))
    ratio = ew.divide(ay, ew.select(zeros, _const(1, ax), ax))
    a = ew.select(infs, _const(np.pi / 4, ax), _atan(ratio))
    a = ew.select(_is_negative(x), ew.subtract(_const(np.pi, a), a), a)
    either = ew.add(ay, ax)  # NaN where y or x is
    return ew.select(ew.compare("NE", either, either), either, _copysign(a, y))


def _hypot(a: ir.Value, b: ir.Value) -> ir.Value:
    """sqrt(a^2 + b^2) without overflow or underflow in between: m sqrt(1 + (n/m)^2), m, n the
    larger and smaller magnitude; inf if either part is inf."""
    a, b = ew.abs(a), ew.abs(b)
    big, small = ew.maximum(a, b), ew.minimum(a, b)
    zero, inf = values.zeros_like(big), _const(np.inf, big)
    ratio = ew.divide(small, ew.select(ew.compare("EQ", big, zero), _const(1, big), big))
    scaled = ew.multiply(big, ew.sqrt(ew.add(_const(1, big), ew.multiply(ratio, ratio))))
    return ew.select(ew.compare("EQ", big, inf), inf, scaled)


# ---- pair arithmetic ---------------------------------------------------------------------------


def _add(p: Pair, q: Pair) -> Pair:
    im = q[1] if p[1] is None else p[1] if q[1] is None else ew.add(p[1], q[1])
    return ew.add(p[0], q[0]), im


def _neg(p: Pair) -> Pair:
    return ew.negate(p[0]), None if p[1] is None else ew.negate(p[1])


def _sub(p: Pair, q: Pair) -> Pair:
    return _add(p, _neg(q))


def _products(p: Pair, q: Pair, product) -> Pair:
    """(a + ib)(c + id) = (ac - bd) + i(ad + bc) for any bilinear product (multiply, dot),
    skipping the terms of zero imaginary parts."""
    (a, b), (c, d) = p, q
    re = product(a, c)
    if b is not None and d is not None:
        re = ew.subtract(re, product(b, d))
    terms = [t for t in (d is not None and product(a, d), b is not None and product(b, c)) if t]
    im = None if not terms else terms[0] if len(terms) == 1 else ew.add(*terms)
    return re, im


def _mul(p: Pair, q: Pair) -> Pair:
    return _products(p, q, ew.multiply)


def _div(p: Pair, q: Pair) -> Pair:
    """p / q with numpy's algorithm (Smith's, scaled by the larger part of q; x/0 = x/|0|
    per part, so (1+2j)/0 = inf+infj as numpy and JAX give)."""
    (a, b), (c, d) = p, q
    if d is None:
        return ew.divide(a, c), None if b is None else ew.divide(b, c)
    b = _Lowering.im(p)
    one = _const(1, c)
    c_abs, d_abs = ew.abs(c), ew.abs(d)
    by_c = ew.compare("GE", c_abs, d_abs)
    zero_q = ew.and_(ew.compare("EQ", c_abs, values.zeros_like(c)),
                     ew.compare("EQ", d_abs, values.zeros_like(d)))
    # |c| >= |d|: rat = d/c, scl = 1/(c + d rat); else rat = c/d, scl = 1/(d + c rat)
    big, small = ew.select(by_c, c, d), ew.select(by_c, d, c)
    safe_big = ew.select(zero_q, one, big)
    rat = ew.divide(small, safe_big)
    scl = ew.divide(one, ew.add(big, ew.multiply(small, rat)))
    re_c = ew.multiply(ew.add(a, ew.multiply(b, rat)), scl)
    im_c = ew.multiply(ew.subtract(b, ew.multiply(a, rat)), scl)
    re_d = ew.multiply(ew.add(ew.multiply(a, rat), b), scl)
    im_d = ew.multiply(ew.subtract(ew.multiply(b, rat), a), scl)
    re = ew.select(zero_q, ew.divide(a, c_abs), ew.select(by_c, re_c, re_d))
    im = ew.select(zero_q, ew.divide(b, c_abs), ew.select(by_c, im_c, im_d))
    return re, im


def _abs(p: Pair) -> ir.Value:
    return ew.abs(p[0]) if p[1] is None else _hypot(p[0], p[1])


def _exp(p: Pair) -> Pair:
    a, b = p
    if b is None:
        return ew.exponential(a), None
    e = ew.exponential(a)
    return ew.multiply(e, ew.cosine(b)), ew.multiply(e, ew.sine(b))


def _log(p: Pair) -> Pair:
    a, b = p[0], _Lowering.im(p)
    return ew.log(_hypot(a, b)), _atan2(b, a)


def _sqrt(p: Pair) -> Pair:
    """Principal square root: t = sqrt((|a| + |z|)/2); a >= 0: (t, b/2t), else (|b|/2t,
    copysign(t, b)); 0 at 0 (with b's sign kept); inf +- inf j when b is infinite (numpy)."""
    a, b = p[0], _Lowering.im(p)
    t = ew.sqrt(ew.multiply(_const(0.5, a), ew.add(ew.abs(a), _hypot(a, b))))
    at_zero = ew.compare("EQ", t, values.zeros_like(t))
    two_t = ew.multiply(_const(2, t), ew.select(at_zero, _const(1, t), t))
    positive = ew.compare("GE", a, values.zeros_like(a))
    re = ew.select(positive, t, ew.divide(ew.abs(b), two_t))
    im = ew.select(positive, ew.divide(b, two_t), _copysign(t, b))
    inf = _const(np.inf, b)
    b_inf = ew.compare("EQ", ew.abs(b), inf)  # sqrt(x +- inf j) = inf +- inf j, x NaN included
    re = ew.select(b_inf, inf, ew.select(at_zero, values.zeros_like(a), re))
    return re, ew.select(b_inf, b, ew.select(at_zero, b, im))


def _separable(real, re_factors, im_factors, negate_im: bool = False):
    """A function of a + bi whose parts are products f(a) g(b): sin, cos, sinh and cosh.
    `real` is the function on real inputs; re = f(a) g(b), im = (+-) h(a) k(b)."""
    def pair(p: Pair) -> Pair:
        a, b = p
        if b is None:
            return real(a), None
        im = ew.multiply(im_factors[0](a), im_factors[1](b))
        return (ew.multiply(re_factors[0](a), re_factors[1](b)),
                ew.negate(im) if negate_im else im)
    return pair


_sin = _separable(ew.sine, (ew.sine, ew.cosh), (ew.cosine, ew.sinh))
_cos = _separable(ew.cosine, (ew.cosine, ew.cosh), (ew.sine, ew.sinh), negate_im=True)
_sinh = _separable(ew.sinh, (ew.sinh, ew.cosine), (ew.cosh, ew.sine))
_cosh = _separable(ew.cosh, (ew.cosh, ew.cosine), (ew.sinh, ew.sine))


def _tanh(p: Pair) -> Pair:
    """(sinh 2a + i sin 2b) / (cosh 2a + cos 2b); for |a| > 20 (where float32 tanh is +-1 and
    cosh overflows) sign(a) + i 0 (vmvx cannot compile stablehlo.sign: math.copysign)."""
    a, b = p
    if b is None:
        return ew.tanh(a), None
    two_a, two_b = ew.add(a, a), ew.add(b, b)
    den = ew.add(ew.cosh(two_a), ew.cosine(two_b))
    large = ew.compare("GT", ew.abs(a), _const(20, a))
    re = ew.select(large, _copysign(_const(1, a), a), ew.divide(ew.sinh(two_a), den))
    im = ew.select(large, ew.multiply(values.zeros_like(b), b), ew.divide(ew.sine(two_b), den))
    return re, im


def _tan(p: Pair) -> Pair:
    """tan z = -i tanh(i z)."""
    a, b = p[0], _Lowering.im(p)
    re, im = _tanh((ew.negate(b), a))
    return im, ew.negate(re)


def _expm1(p: Pair) -> Pair:
    """(expm1(a) cos b - 2 sin^2(b/2)) + i e^a sin b: accurate near 0."""
    a, b = p
    if b is None:
        return ew.exponential_minus_one(a), None
    half = ew.sine(ew.multiply(_const(0.5, b), b))
    re = ew.subtract(ew.multiply(ew.exponential_minus_one(a), ew.cosine(b)),
                     ew.multiply(_const(2, b), ew.multiply(half, half)))
    return re, ew.multiply(ew.exponential(a), ew.sine(b))


def _log1p(p: Pair) -> Pair:
    """log(1 + z): real part 0.5 log1p(2a + a^2 + b^2) near 0, log|1 + z| elsewhere."""
    a, b = p[0], _Lowering.im(p)
    one_a = ew.add(_const(1, a), a)
    near = ew.multiply(_const(0.5, a), ew.log_plus_one(
        ew.add(ew.multiply(a, ew.add(_const(2, a), a)), ew.multiply(b, b))))
    small = ew.compare("LT", ew.add(ew.abs(a), ew.abs(b)), _const(0.5, a))
    return ew.select(small, near, ew.log(_hypot(one_a, b))), _atan2(b, one_a)


def _rsqrt(p: Pair) -> Pair:
    return _div((_const(1, p[0]), None), _sqrt(p))


def _sign(p: Pair) -> Pair:
    """z / |z|, 0 at 0 (NaN stays NaN)."""
    a, b = p[0], _Lowering.im(p)
    magnitude = _hypot(a, b)
    at_zero = ew.compare("EQ", magnitude, values.zeros_like(magnitude))
    safe = ew.select(at_zero, _const(1, magnitude), magnitude)
    zero = values.zeros_like(magnitude)
    return (ew.select(at_zero, zero, ew.divide(a, safe)),
            ew.select(at_zero, zero, ew.divide(b, safe)))


def _select(pred: ir.Value, p: Pair, q: Pair) -> Pair:
    if p[1] is None and q[1] is None:
        return ew.select(pred, p[0], q[0]), None
    return (ew.select(pred, p[0], q[0]),
            ew.select(pred, _Lowering.im(p), _Lowering.im(q)))


def _eq(p: Pair, q: Pair) -> ir.Value:
    return ew.and_(ew.compare("EQ", p[0], q[0]),
                   ew.compare("EQ", _Lowering.im(p), _Lowering.im(q)))


def _power(z: Pair, w: Pair) -> Pair:
    """exp(w log z); at z = 0 as JAX on CPU (and aotc's vulkan rewrite): 1 for w = 0, 0 for a
    real w > 0, else NaN."""
    zr = z[0]
    zero = values.zeros_like(zr)
    z_zero = _eq(z, (zero, None))
    safe = _select(z_zero, (_const(1, zr), None), z)
    general = _exp(_mul(w, _log(safe)))
    w_im = _Lowering.im(w)
    positive_real = ew.and_(ew.compare("GT", w[0], zero), ew.compare("EQ", w_im, zero))
    nan = (_const(np.nan, zr), _const(np.nan, zr))
    at_zero = _select(_eq(w, (zero, None)), (_const(1, zr), None),
                      _select(positive_real, (zero, None), nan))
    return _select(z_zero, at_zero, general)


# ---- rules: (lowering, op, args) -> results; args are pairs (complex) or values (real) --------


def _as_pair(a) -> Pair:
    return a if isinstance(a, tuple) else (a, None)


def _unary(fn):
    return lambda lw, op, args: [fn(_as_pair(args[0]))]


def _binary(fn):
    return lambda lw, op, args: [fn(_as_pair(args[0]), _as_pair(args[1]))]


def _compare(lw, op, args):
    direction = str(op.attributes["comparison_direction"])
    p, q = _as_pair(args[0]), _as_pair(args[1])
    if "EQ" in direction and "NE" not in direction:
        return [_eq(p, q)]
    if "NE" in direction:
        return [ew.not_(_eq(p, q))]
    raise lw.error(op, f"{op.name} {direction} (complex values have no order)")


def _convert(lw, op, args):
    result = op.results[0]
    if _is_complex(result):
        p = _as_pair(args[0])
        part = cx.part_element(ir.RankedTensorType(result.type).element_type)
        return [(ew.convert(p[0], part), None if p[1] is None else ew.convert(p[1], part))]
    return [ew.convert(args[0][0], ir.RankedTensorType(result.type).element_type)]


def _by_parts(lw, op, args):
    """A structural op (reshape, slice, gather, select, ...) applied to the real parts, then to
    the imaginary parts (skipped when they are all zero)."""
    types = [_part_type(r.type) for r in op.results]
    re = values.clone_with(op, [a[0] if isinstance(a, tuple) else a for a in args], types)
    if all(a[1] is None for a in args if isinstance(a, tuple)):
        return [(r, None) for r in re.results]
    im = values.clone_with(op, [lw.im(a) if isinstance(a, tuple) else a for a in args], types)
    return list(zip(re.results, im.results))


def _scatter(lw, op, args):
    """A scatter that overwrites or adds (`x.at[i].set/add`) as one scatter per part (IREE
    3.13 has no variadic scatter: "NYI variadic operands scatter"), its update region retyped."""
    body = [inner.name for inner in op.regions[0].blocks[0].operations]
    if not set(body) <= {"stablehlo.add", "stablehlo.return"} or len(op.results) != 1:
        raise lw.error(op, "stablehlo.scatter on complex values with an update other than set "
                           "or add")
    re, im = _by_parts(lw, op, args)[0]
    for part in (re, im):
        if part is not None:
            _retype_regions(part.owner)
    return [(re, im)]


def _retype_regions(op: ir.Operation) -> None:
    """Complex block arguments and op results inside op's regions made their part type."""
    for region in op.regions:
        for block in region.blocks:
            for arg in block.arguments:
                arg.set_type(_part_type(arg.type))
            for inner in block.operations:
                for r in inner.results:
                    r.set_type(_part_type(r.type))


def _dot(lw, op, args):
    """dot_general of complex operands: with Gauss's trick, three real products when both have
    imaginary parts (t1 = (a + b)c, t2 = a(d - c), t3 = b(c + d); re = t1 - t3, im = t1 + t2;
    a constant operand's sums fold), else two or one."""
    part = _part_type(op.results[0].type)

    def product(x, y):
        return values.clone_with(op, [x, y], [part]).result

    (a, b), (c, d) = _as_pair(args[0]), _as_pair(args[1])
    if b is None or d is None:
        return [_products((a, b), (c, d), product)]
    t1 = product(ew.add(a, b), c)
    t2 = product(a, ew.subtract(d, c))
    t3 = product(b, ew.add(c, d))
    return [(ew.subtract(t1, t3), ew.add(t1, t2))]


def _return(lw, op, args):
    """func.return: complex results packed back into complex values."""
    fn_results = [v.type for v in op.operands]
    ir.Operation.create(op.name, operands=[
        lw.pack(a, t) if isinstance(a, tuple) else a for a, t in zip(args, fn_results)])
    return []


def _constant(lw, op, args):
    """A complex dense constant (JAX's exports have them): its text parsed into two real ones
    (the MLIR Python bindings cannot read complex DenseElementsAttrs back)."""
    t = ir.RankedTensorType(op.results[0].type)
    dtype = dtypes.from_mlir(t.element_type)
    value = _parse_complex_dense(str(op), dtype, list(t.shape))
    if value is None:
        raise lw.error(op, "a complex constant aotc cannot read")
    part = np.dtype(dtypes.real_dtype(dtype))
    return [(shape_ops.constant(value.real.astype(part)),
             shape_ops.constant(value.imag.astype(part)))]


def _parse_complex_dense(text: str, dtype, shape: list) -> np.ndarray | None:
    match = re.search(r"dense<(.*)>\s*:", text, re.S)
    if match is None:
        return None
    body = match[1].strip()
    if body.startswith('"0x'):
        raw = bytes.fromhex(body[3:-1])
        flat = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
        return np.broadcast_to(flat, shape).reshape(shape) if flat.size == 1 else \
            flat.reshape(shape)
    literal = re.sub(r"\(([^(),]+),([^(),]+)\)", r"complex(\1,\2)", body)
    literal = re.sub(r"\b(nan|inf)\b", r"float('\1')", literal.replace("0x7FC00000", "nan"))
    try:
        value = np.array(eval(literal, {"__builtins__": {}, "complex": complex, "float": float}),
                         dtype)
    except (SyntaxError, NameError, TypeError, ValueError):
        return None
    return np.broadcast_to(value, shape).copy()


_RULES = {
    "stablehlo.add": _binary(_add),
    "stablehlo.subtract": _binary(_sub),
    "stablehlo.multiply": _binary(_mul),
    "stablehlo.divide": _binary(_div),
    "stablehlo.power": _binary(_power),
    "stablehlo.negate": _unary(_neg),
    "stablehlo.exponential": _unary(_exp),
    "stablehlo.log": _unary(_log),
    "stablehlo.sqrt": _unary(_sqrt),
    "stablehlo.rsqrt": _unary(_rsqrt),
    "stablehlo.sine": _unary(_sin),
    "stablehlo.cosine": _unary(_cos),
    "stablehlo.tan": _unary(_tan),
    "stablehlo.tanh": _unary(_tanh),
    "chlo.sinh": _unary(_sinh),
    "chlo.cosh": _unary(_cosh),
    "stablehlo.exponential_minus_one": _unary(_expm1),
    "stablehlo.log_plus_one": _unary(_log1p),
    "stablehlo.sign": _unary(_sign),
    "stablehlo.abs": lambda lw, op, args: [_abs(args[0])],
    "stablehlo.real": lambda lw, op, args: [args[0][0]],
    "stablehlo.imag": lambda lw, op, args: [lw.im(args[0])],
    "stablehlo.complex": lambda lw, op, args: [(args[0], args[1])],
    "stablehlo.select": lambda lw, op, args: [_select(args[0], _as_pair(args[1]),
                                                      _as_pair(args[2]))],
    "stablehlo.compare": _compare,
    "stablehlo.convert": _convert,
    "stablehlo.dot_general": _dot,
    "stablehlo.scatter": _scatter,
    "stablehlo.constant": _constant,
    "func.return": _return,
}

_WITHOUT_COPYSIGN = {"stablehlo.atan2": lambda y, x: _atan2(y, x), "stablehlo.sign": _real_sign}

# structural ops: each part goes through the op unchanged (indices and predicates stay real)
_BY_PARTS = {
    "stablehlo.broadcast_in_dim", "stablehlo.dynamic_broadcast_in_dim", "stablehlo.reshape",
    "stablehlo.dynamic_reshape", "stablehlo.transpose", "stablehlo.slice",
    "stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice", "stablehlo.real_dynamic_slice",
    "stablehlo.concatenate", "stablehlo.pad", "stablehlo.reverse", "stablehlo.gather",
    "stablehlo.copy",
}

# ops whose complex operands, results and block arguments split in place
_IN_PLACE = {
    "stablehlo.reduce", "stablehlo.while", "stablehlo.if", "stablehlo.case",
    "stablehlo.map", "stablehlo.reduce_window", "stablehlo.return",
    "stablehlo.optimization_barrier",
}
