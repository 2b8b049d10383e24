"""JAX's LAPACK custom_calls, run as aotc's portable linear algebra.

On CPU, JAX lowers jnp.linalg / jax.scipy.linalg to `stablehlo.custom_call @lapack_<x>_ffi`
(jaxlib/lapack.py), which IREE cannot compile. Each such call of an imported module (float32
`s` and float64 `d` variants) gets rules here that *expand* it: the call's LAPACK contract is
written with frontend/linalg's routines, in LAPACK's output convention, and traced once into a
private function of the call's module (`@aotc_lapack_<target>_N`, reused by every call with the
same target, operand types and options). Every transform then walks that function as a call:

- interpret, batch and forward-mode JVP inline it (`walker.call`), so the derivatives are
  frontend/linalg's (JAX's rules, custom_jvp) and batching is theirs;
- reverse mode boxes the call and its VJP rule emits the function's VJP (`block_vjp`), as for a
  checkpointed call;
- before IREE, the bounds pass replaces the call by a func.call of the function (and legalizes
  the function's own indexing when it creates it).

The contracts (operand/result layout, `mhlo.backend_config` options; batch dims lead):
- potrf(a; uplo) -> (factor with the other triangle of a kept, info)
- getrf(a) -> (packed LU, 1-based int32 pivots, info: 1 + first zero pivot's index, else 0)
- geqrf(a) -> (R above and Householder vectors below the diagonal, taus), LAPACK's reflectors
- orgqr(packed, taus) -> Q (as many columns as packed has)
- syevd(a; mode, uplo) -> (eigenvectors, eigenvalues ascending, info)
- gesdd(a; mode A/S/N) -> (a, s, u, vt, info); mode N leaves u and vt zero
- trsm(a, b; side, uplo, trans_x, diag) -> x with op(a) x = b (side L) or x op(a) = b (side R)
A factorization that breaks down gives what frontend/linalg gives (NaNs for cholesky, with
info 1); JAX's own code after the call turns a nonzero info into NaNs, as on CPU.
Eigenvectors and singular vectors follow aotc's sign convention (see spectral.py), not
LAPACK's: a program whose result depends on those signs differs from JAX's by them.
"""

import re
import weakref
from collections.abc import Callable

import numpy as np

from aotc.frontend import lax
from aotc.frontend import numpy as anp
from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import find_function, functions, ir, shape_of
from aotc.frontend.core.registry import builds_own_op, custom_call_key, register
from aotc.frontend.linalg import factor, kernels, spectral
from aotc.frontend.ops import control
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace.lower import ShapeDtypeStruct
from aotc.frontend.trace.tracer import trace
from aotc.passes import functions as util
from aotc.passes.walker import entry_block

PREFIXES = ("s", "d")  # float32, float64; complex (c, z) calls have no rules yet
_TARGET = re.compile(r"lapack_([sdcz])([a-z]+)_ffi")


# ---- reading a call ----------------------------------------------------------------------------

_CONFIG = "mhlo.backend_config"


def _options(config: ir.Attribute | None) -> dict[str, str]:
    """A call's `mhlo.backend_config` ({uplo = 76 : ui8, ...}) as {"uplo": "L", ...}."""
    if config is None:
        return {}
    return {named.name: chr(ir.IntegerAttr(named.attr).value) for named in ir.DictAttr(config)}


def _target(op: ir.Operation) -> str:
    return ir.StringAttr(op.attributes["call_target_name"]).value


def _routine(target: str) -> str:
    """'lapack_spotrf_ffi' -> 'potrf'."""
    return _TARGET.fullmatch(target).group(2)


# ---- LAPACK's contracts in aotc's linear algebra ------------------------------------------------


def _from_triangle(a, lower: bool):
    """The symmetric matrix that a's lower (upper) triangle stands for: all LAPACK reads."""
    if lower:
        return anp.tril(a) + kernels.mT(anp.tril(a, -1))
    return anp.triu(a) + kernels.mT(anp.triu(a, 1))


def _int32(x):
    return x.astype(anp.int32)


def _potrf(options, result_types, a):
    lower = options.get("uplo", "L") == "L"
    low = factor.cholesky(_from_triangle(a, lower), symmetrize_input=False)
    ok = anp.all(anp.isfinite(anp.diagonal(low, axis1=-2, axis2=-1)), axis=-1)
    out = low + anp.triu(a, 1) if lower else kernels.mT(low) + anp.tril(a, -1)
    return out, _int32(anp.where(ok, 0, 1))


def _getrf(options, result_types, a):
    lu, pivots, _ = factor.lu_decompose(a, "getrf")
    zero = _int32(anp.diagonal(lu, axis1=-2, axis2=-1) == 0)
    info = anp.where(anp.any(zero > 0, axis=-1), _int32(anp.argmax(zero, axis=-1)) + 1, 0)
    return lu, _int32(pivots) + 1, _int32(info)


def _geqrf(options, result_types, a):
    """LAPACK's geqr2: reflector j maps column j at and below the diagonal to beta e_j, beta =
    -sign(alpha) |x|; v_j has v[j] = 1 (implicit) and is stored below the diagonal; tau = 0
    (H = I, beta = alpha) when the column below the diagonal is zero. Differentiable as it is."""
    m, n = a.shape[-2:]
    k = min(m, n)
    rows, cols, slots = anp.arange(m), anp.arange(n), anp.arange(k)

    def step(j, carry):
        a, taus = carry
        x = kernels.column(a, j)
        alpha = kernels.entry(x, j)
        below = rows > j
        x_below = anp.where(below, x, 0.0)
        sigma = anp.sum(x_below * x_below, axis=-1)
        trivial = sigma == 0
        norm = anp.sqrt(anp.where(trivial, 1.0, alpha * alpha + sigma))
        beta = anp.where(trivial, alpha, anp.where(alpha >= 0, -norm, norm))
        tau = anp.where(trivial, 0.0, (beta - alpha) / anp.where(trivial, 1.0, beta))
        v = anp.where(rows == j, 1.0, x_below / anp.where(trivial, 1.0, alpha - beta)[..., None])
        w = anp.matmul(v[..., None, :], a)[..., 0, :]  # v^T a
        a = a - tau[..., None, None] * kernels.outer(v, anp.where(cols > j, w, 0.0))
        packed = anp.where(rows == j, beta[..., None], anp.where(below, v, x))
        a = anp.where(cols == j, packed[..., :, None], a)
        return a, anp.where(slots == j, tau[..., None], taus)

    taus = anp.zeros((*a.shape[:-2], k), a.dtype)
    return tuple(lax.fori_loop(0, k, step, (a, taus)))


def _orgqr(options, result_types, packed, taus):
    """Q = H_0 H_1 ... H_{k-1}, its first `packed.shape[-1]` columns, applied last to first."""
    m, p = packed.shape[-2:]
    k = taus.shape[-1]
    rows = anp.arange(m)
    q = anp.broadcast_to(anp.eye(m, p, dtype=packed.dtype), packed.shape)

    def step(i, q):
        j = k - 1 - i
        x = kernels.column(packed, j)
        v = anp.where(rows == j, 1.0, anp.where(rows > j, x, 0.0))
        w = anp.matmul(v[..., None, :], q)[..., 0, :]
        return q - kernels.entry(taus, j)[..., None, None] * kernels.outer(v, w)

    return (lax.fori_loop(0, k, step, q),)


def _syevd(options, result_types, a):
    lower = options.get("uplo", "L") == "L"
    w, v = spectral.eigh(a, "L" if lower else "U", symmetrize_input=False)
    return v, w, _int32(anp.zeros(a.shape[:-2]))


def _gesdd(options, result_types, a):
    mode = options.get("mode", "A")
    info = _int32(anp.zeros(a.shape[:-2]))
    if mode == "N":
        s = spectral.svd(a, compute_uv=False)
        zeros = [anp.zeros(shape_of(t), a.dtype) for t in result_types[2:4]]
        return a, s, *zeros, info
    u, s, vt = spectral.svd(a, full_matrices=mode == "A")
    return a, s, u, vt, info


def _trsm(options, result_types, a, b):
    lower = options.get("uplo", "L") == "L"
    unit = options.get("diag", "N") == "U"
    transpose = options.get("trans_x", "N") != "N"  # T, or C (the same for real matrices)
    if options.get("side", "L") == "L":
        return (factor.solve_triangular(a, b, lower=lower, transpose=transpose,
                                        unit_diagonal=unit),)
    x_t = factor.solve_triangular(a, kernels.mT(b), lower=lower, transpose=not transpose,
                                  unit_diagonal=unit)  # x op(a) = b  <=>  op(a)^T x^T = b^T
    return (kernels.mT(x_t),)


_ROUTINES: dict[str, Callable] = {
    "potrf": _potrf, "getrf": _getrf, "geqrf": _geqrf, "orgqr": _orgqr, "syevd": _syevd,
    "gesdd": _gesdd, "trsm": _trsm,
}


# ---- result types ------------------------------------------------------------------------------


def _type_rule(routine: str):
    """The result types of `routine` from its operand types and options (attrs)."""

    def rule(types, attrs):
        t = ir.RankedTensorType(types[0])
        *batch, m, n = t.shape
        k = min(m, n)
        elt, i32 = t.element_type, ir.IntegerType.get_signless(32)

        def of(shape, element=elt):
            return ir.RankedTensorType.get(list(shape), element)

        info = of(batch, i32)
        if routine == "potrf":
            return [t, info]
        if routine == "getrf":
            return [t, of([*batch, k], i32), info]
        if routine == "geqrf":
            return [t, of([*batch, k])]
        if routine == "orgqr":
            return [t]
        if routine == "syevd":
            return [t, of([*batch, n]), info]
        if routine == "trsm":
            return [types[1]]
        mode = _options(attrs.raw(_CONFIG) if _CONFIG in attrs else None).get("mode", "A")
        u_cols, vt_rows = (k, k) if mode == "S" else (m, n)
        return [t, of([*batch, k]), of([*batch, m, u_cols]), of([*batch, vt_rows, n]), info]

    return rule


# ---- the expansion: a private function of the call's module -------------------------------------

# context -> {(target, operand types, options): function name}; the function is looked up again
# in the module before reuse (another module of the same context may hold the name).
_EXPANSIONS: "weakref.WeakKeyDictionary[ir.Context, dict]" = weakref.WeakKeyDictionary()


def _module_of(op: ir.Operation) -> ir.Operation:
    parent = op.parent
    while parent.name != "builtin.module":
        parent = parent.parent
    return parent


def _numpy_dtype(t: ir.Type) -> np.dtype:
    return np.dtype(dtypes.from_mlir(ir.RankedTensorType(t).element_type))


def _check_static(op: ir.Operation, target: str) -> None:
    for v in [*op.operands, *op.results]:
        if None in shape_of(v):
            raise TracingError(f"{target}: aotc expands LAPACK calls with static shapes only; "
                               f"got {v.type}. Export the JAX function with static shapes")


def expansion(op: ir.Operation) -> tuple[ir.Operation, bool]:
    """(the private func.func computing the LAPACK call `op` in aotc's ops, whether this call
    created it). The function takes the call's operands and returns its results."""
    target = _target(op)
    options = _options(op.attributes[_CONFIG] if _CONFIG in op.attributes else None)
    module = _module_of(op)
    key = (target, tuple(str(v.type) for v in op.operands), tuple(sorted(options.items())))
    names = _EXPANSIONS.setdefault(op.context, {})
    name = names.get(key)
    if name is not None and name in functions(module):
        return find_function(module, name), False
    _check_static(op, target)
    routine = _ROUTINES[_routine(target)]
    result_types = [r.type for r in op.results]
    specs = [ShapeDtypeStruct(shape_of(v), _numpy_dtype(v.type)) for v in op.operands]
    _, in_tree = tree.flatten(tuple(range(len(specs))))

    def body(*xs):
        outs = routine(options, result_types, *xs)
        return tuple(anp.reshape(o, shape_of(t)).astype(_numpy_dtype(t))
                     for o, t in zip(outs, result_types))

    name = util.fresh_name(module, f"aotc_{target}")
    trace(body, specs, in_tree, name=name, module=module, private=True)
    names[key] = name
    return find_function(module, name), True


# ---- the rules: every transform walks the expansion as a call -----------------------------------


def _interpret(ctx, *operands):
    return ctx.walker.call(ctx.op, expansion(ctx.op)[0])


@builds_own_op
def _jvp(ctx, primals, tangents):
    pairs = ctx.walker.call(ctx.op, expansion(ctx.op)[0])
    return [p for p, _ in pairs], [t for _, t in pairs]


def _vjp(ctx, result_cts, wrt):
    """Reverse mode of a boxed call: the expansion's VJP, emitted here (as a checkpointed
    call's: it recomputes the expansion's intermediate values)."""
    fn = expansion(ctx.op)[0]
    operands = list(ctx.op.operands)
    picked = [i for i, v in enumerate(operands) if v in wrt]
    out_cts = [values.instantiate(c) for c, r in zip(result_cts, ctx.op.results)
               if values.is_float(r.type)]
    _, cts = ctx.block_vjp(entry_block(fn), [], [], [ctx.primal(v) for v in operands], picked,
                           out_cts)
    grads: dict = {}
    for i, c in zip(picked, cts):
        grads[operands[i]] = values.add_any(grads.get(operands[i]), c)
    return [grads[v] if v in grads else values.Zero(v.type) for v in wrt]


def _batch(ctx, operands, batched):
    pairs = ctx.walker.call(ctx.op, expansion(ctx.op)[0])
    return [v for v, _ in pairs], [b for _, b in pairs]


def _bounds(ctx, operands):
    """Before IREE: a func.call of the expansion, whose own indexing is legalized when this
    call created it (a function that existed before the pass started is legalized by it)."""
    fn, created = expansion(ctx.op)
    outs = control.call(ir.StringAttr(fn.attributes["sym_name"]).value, operands,
                        [r.type for r in ctx.op.results])
    if created:
        entry = entry_block(fn)
        ctx.walker.run_block(entry, list(entry.arguments))
    return outs


def targets() -> list[str]:
    """The LAPACK call targets with rules here ('lapack_spotrf_ffi', ...)."""
    return [f"lapack_{p}{r}_ffi" for p in PREFIXES for r in _ROUTINES]


def _register() -> None:
    for target in targets():
        key = custom_call_key(target)
        register("type", key, _type_rule(_routine(target)))
        register("interpret", key, _interpret)
        register("jvp", key, _jvp)
        register("vjp", key, _vjp)
        register("batch", key, _batch)
        register("bounds", key, _bounds)


_register()
