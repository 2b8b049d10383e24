"""Function transforms by staging: grad, value_and_grad, jvp, vjp, jacfwd, jacrev, hessian,
linearize, linear_transpose.

`grad(f)(x)` inside a trace traces f into its own private `func.func` of the module being built,
runs the autodiff pass on it (passes/autodiff.py), and emits a `func.call` of the derivative.
Nesting (`grad(grad(f))`, `jit(grad(f))`) falls out: the pass inlines calls as it goes.
Outside any trace, the transformed function runs eagerly (traced and interpreted).
"""

from collections.abc import Callable, Sequence

import numpy as np

from aotc.frontend.core import dtypes, tree
from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.core.source import caller_site
from aotc.frontend.numpy.creation import eye, zeros_like
from aotc.frontend.numpy.math import multiply
from aotc.frontend.numpy.reductions import sum as reduce_sum
from aotc.frontend.numpy.shape import moveaxis, reshape
from aotc.frontend.ops import tensors as values
from aotc.frontend.trace.eager import eager
from aotc.frontend.trace.lower import ShapeDtypeStruct, eval_shape, spec_of
from aotc.frontend.trace.staging import call_function, function_name, stage
from aotc.frontend.trace.tracer import Tracer, is_tracing, to_tracer
from aotc.frontend.transforms.vmap import vmap
from aotc.passes import autodiff
from aotc.passes import functions as util


def _argnum_leaves(args, argnums) -> tuple[list[int], list]:
    """Flat leaf indices of args[argnums] and each differentiated argument's tree structure."""
    offsets, start = [], 0
    for a in args:
        n = len(tree.leaves(a))
        offsets.append((start, n))
        start += n
    indices, structures = [], []
    for a in argnums:
        if not -len(args) <= a < len(args):
            raise TracingError(f"{caller_site()}: argnums {a} is out of range for {len(args)} "
                               "arguments")
        first, n = offsets[a]
        indices.extend(range(first, first + n))
        structures.append((a % len(args), tree.structure(args[a])))
    return indices, structures


def _check_float(tracers, indices, what: str, holomorphic: bool = False) -> None:
    for i in indices:
        if holomorphic and not dtypes.is_complex(tracers[i].dtype):
            raise TracingError(f"{caller_site()}: {what} with holomorphic=True needs complex "
                               f"inputs, but an input has dtype {tracers[i].dtype}; convert it "
                               "with .astype(anp.complex64)")
        if not dtypes.is_inexact(tracers[i].dtype):
            raise TracingError(f"{caller_site()}: {what} needs float inputs, but an input has "
                               "dtype "
                               f"{tracers[i].dtype}; differentiate with respect to float arrays "
                               "only (use argnums to pick them)")


def _normalize_argnums(argnums) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def _value_and_grad_traced(fun, argnums, has_aux, args, holomorphic=False, any_output=False):
    """holomorphic: f maps complex inputs to a complex scalar (JAX's holomorphic=True);
    any_output: a float or complex scalar, as vjp's <f(x), ct> is."""
    argnums, single = _normalize_argnums(argnums)
    module, traced, tracers, captures = stage(fun, args, function_name(fun))
    indices, structures = _argnum_leaves(args, argnums)
    _check_float(tracers, indices, "grad", holomorphic and not any_output)
    out_def = traced.out_tree
    fn = util.find_function(module, traced.name)
    out_types = list(util.function_type(fn).results)
    if has_aux:
        if out_def.kind is not tuple or len(out_def.children) != 2:
            raise TracingError(f"{caller_site()}: with has_aux=True the function must return a "
                               "pair "
                               "(value, aux)")
        value_def = out_def.children[0]
    else:
        value_def = out_def
    out_complex = dtypes.is_complex(dtypes.from_mlir(values.element(out_types[0])))
    if holomorphic and not any_output and not out_complex:
        raise TracingError(f"{caller_site()}: grad with holomorphic=True needs a function "
                           f"returning a complex scalar, got {out_types[0]}")
    if out_complex and not (holomorphic or any_output):
        raise TracingError(f"{caller_site()}: grad needs a real-valued function, got "
                           f"{out_types[0]}; pass holomorphic=True for a holomorphic function, "
                           "or use vjp for other complex outputs")
    if value_def.num_leaves != 1 or tuple(ir.RankedTensorType(out_types[0]).shape) != () or \
            not values.is_float(out_types[0]):
        raise TracingError(f"{caller_site()}: grad needs a function returning a float scalar, got "
                           f"{[str(t) for t in out_types[:value_def.num_leaves]]}; use jacrev or "
                           "vjp for other outputs")
    vjp_name = autodiff.vjp(module, traced.name, indices, private=True)
    seeds = []
    for k, t in enumerate(out_types):
        if values.is_float(t):
            seeds.append(Tracer(values.full_like(t, 1.0 if k == 0 else 0.0)))
    results = call_function(vjp_name, module, tracers + captures + seeds)
    outs, grads = results[:len(out_types)], results[len(out_types):]
    out = tree.unflatten(out_def, outs)
    grads_tree, pos = [], 0
    for _, structure in structures:
        n = structure.num_leaves
        grads_tree.append(tree.unflatten(structure, grads[pos:pos + n]))
        pos += n
    grads_out = grads_tree[0] if single else tuple(grads_tree)
    return out, grads_out


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False):
    """f -> (x -> (f(x), df/dx)), for f returning a float scalar (or (scalar, aux) with has_aux).
    For complex inputs the gradient follows JAX (the conjugate of df/dx for real f);
    holomorphic=True differentiates a complex function of complex inputs.

    Example:
        >>> loss, grads = aotc.value_and_grad(loss_fn)(params, x, y)
    """

    def value_and_grad_fn(*args):
        out, grads = _value_and_grad_traced(fun, argnums, has_aux, args, holomorphic)
        return out, grads

    return eager(value_and_grad_fn, like=fun)


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False):
    """The gradient of a scalar function, like jax.grad (complex inputs, and holomorphic=True for
    complex functions of complex inputs, follow JAX's conventions).

    Example:
        >>> aotc.grad(lambda x: anp.sum(anp.sin(x)))(np.ones(3))   # cos(1) three times
    """

    def grad_fn(*args):
        out, grads = _value_and_grad_traced(fun, argnums, has_aux, args, holomorphic)
        return (grads, out[1]) if has_aux else grads

    return eager(grad_fn, like=fun)


def jvp(fun: Callable, primals, tangents):
    """(f(*primals), J f(primals) · tangents), like jax.jvp. Tangents match primals' structure."""

    def jvp_fn(primals, tangents):
        primals, tangents = tuple(primals), tuple(tangents)
        if tree.structure(primals) != tree.structure(tangents):
            raise TracingError(f"{caller_site()}: jvp: primals {tree.structure(primals)!r} and "
                               f"tangents {tree.structure(tangents)!r} differ in structure")
        module, traced, tracers, captures = stage(fun, primals, function_name(fun))
        tangent_leaves = [to_tracer(t) for t in tree.leaves(tangents)]
        indices = [i for i, t in enumerate(tracers) if dtypes.is_inexact(t.dtype)]
        for i in indices:
            p, t = tracers[i], tangent_leaves[i]
            if p.shape != t.shape or p.dtype != t.dtype:
                raise TracingError(f"{caller_site()}: jvp: tangent {t.shape} {t.dtype} does not "
                                   "match "
                                   f"primal {p.shape} {p.dtype}")
        jvp_name = autodiff.jvp(module, traced.name, tangent_args=indices, private=True)
        results = call_function(jvp_name, module,
                        tracers + captures + [tangent_leaves[i] for i in indices])
        n_out = traced.out_tree.num_leaves
        outs, touts = results[:n_out], iter(results[n_out:])
        tangent_outs = [next(touts) if dtypes.is_inexact(o.dtype) else Tracer(values.zeros_like(
            o.value)) for o in outs]
        return (tree.unflatten(traced.out_tree, outs),
                tree.unflatten(traced.out_tree, tangent_outs))

    return eager(jvp_fn)(primals, tangents)


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """(f(*primals), vjp_fn) where vjp_fn(cotangent) gives the cotangents of the primals.

    Example:
        >>> y, pullback = aotc.vjp(f, x)
        >>> (x_ct,) = pullback(np.ones_like(y))
    """

    def forward(*primals):
        out = fun(*primals)
        return out

    out = eager(forward)(*primals)
    value = out[0] if has_aux else out

    def pullback(ct):
        def staged(primals, ct):
            def linear_in(*ps):
                result = fun(*ps)
                result = result[0] if has_aux else result
                return _dot_tree(result, ct)

            _, grads = _value_and_grad_traced(linear_in, tuple(range(len(primals))), False,
                                              tuple(primals), any_output=True)
            return tuple(grads)

        return eager(staged)(primals, ct)

    return (value, pullback, out[1]) if has_aux else (value, pullback)


def _dot_tree(result, ct):
    """sum over leaves of <result, ct>: a scalar whose gradient is the VJP with ct."""
    total = None
    for r, c in zip(tree.leaves(result), tree.leaves(ct)):
        r = to_tracer(r)
        if not dtypes.is_inexact(r.dtype):
            continue
        term = reduce_sum(multiply(r, Tracer(to_tracer(c).value)))
        total = term if total is None else total + term
    if total is None:
        raise TracingError(f"{caller_site()}: vjp of a function without float outputs")
    return total


def _flat_single(args, argnum):
    arg = args[argnum]
    if tree.structure(arg).kind is not None:
        raise TracingError(f"{caller_site()}: jacfwd/jacrev take array arguments "
                           f"(argnums={argnum} is a "
                           "pytree)")
    return to_tracer(arg)


def jacfwd(fun: Callable, argnums: int = 0):
    """The Jacobian by forward mode: the JVP vmapped over the input's basis.
    Shape: out.shape + in.shape."""

    def jac(*args):
        x = _flat_single(args, argnums)
        n = int(np.prod(x.shape))
        basis = reshape(eye(n, dtype=x.dtype), (n, *x.shape))

        def push(direction):
            tangents = tuple(direction if k == argnums else _zeros_like_tree(a)
                             for k, a in enumerate(args))
            return to_tracer(jvp(fun, args, tangents)[1])

        columns = vmap(push)(basis)  # (n, *out.shape)
        out_shape = columns.shape[1:]
        return reshape(moveaxis(columns, 0, -1), (*out_shape, *x.shape))

    return eager(jac, like=fun)


def _zeros_like_tree(a):
    return tree.map(lambda leaf: zeros_like(leaf), a)


def jacrev(fun: Callable, argnums: int = 0):
    """The Jacobian by reverse mode: the VJP vmapped over the output's basis.
    Shape: out.shape + in.shape. aotc.jacobian is this function, as jax.jacobian is jax.jacrev.

    Example:
        >>> aotc.jacobian(lambda x: anp.sin(x) * 2)(np.ones(3, np.float32))   # diag(2 cos 1)
    """

    def jac(*args):
        x = _flat_single(args, argnums)
        y = to_tracer(fun(*args))
        m = int(np.prod(y.shape))
        basis = reshape(eye(m, dtype=y.dtype), (m, *y.shape))

        def pull(ct):
            _, pullback = vjp(fun, *args)
            return pullback(ct)[argnums]

        rows = vmap(pull)(basis)  # (m, *x.shape)
        return reshape(rows, (*y.shape, *x.shape))

    return eager(jac, like=fun)


jacobian = jacrev


def linearize(fun: Callable, *primals, has_aux: bool = False):
    """(fun(*primals), f_jvp) where f_jvp(*tangents) is the JVP of fun at primals, like
    jax.linearize: tangents match primals in structure, shapes and dtypes. With has_aux=True fun
    returns (out, aux) and linearize returns (out, f_jvp, aux). Each f_jvp call runs the staged
    JVP (traced once per signature), which recomputes the primal alongside the tangent.

    Example:
        >>> y, f_jvp = aotc.linearize(anp.sin, x)
        >>> f_jvp(np.ones_like(x))          # cos(x)
    """
    out = eager(fun)(*primals)
    if has_aux:
        if not isinstance(out, tuple) or len(out) != 2:
            raise TracingError(f"{caller_site()}: linearize with has_aux=True needs a function "
                               "returning a pair (out, aux)")
        out, aux = out

    def value_only(*ps):
        return fun(*ps)[0] if has_aux else fun(*ps)

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TracingError(f"{caller_site()}: the linearized function takes "
                               f"{len(primals)} tangents, one per primal, got {len(tangents)}")
        return jvp(value_only, primals, tangents)[1]

    return (out, f_jvp, aux) if has_aux else (out, f_jvp)


def _output_specs(fun: Callable, structure, specs: list):
    """The ShapeDtypeStructs of fun's outputs on arguments of `specs`. Inside a trace, fun is
    traced in that trace (on zeros; the unused ops are dropped later), since it may close over
    the trace's tracers, which a fresh eval_shape trace (another MLIR context) cannot use."""
    if not is_tracing():
        return eval_shape(fun, *tree.unflatten(structure, specs))
    out = fun(*tree.unflatten(structure, [np.zeros(s.shape, s.dtype) for s in specs]))
    return tree.map(lambda v: ShapeDtypeStruct(tuple(to_tracer(v).shape), to_tracer(v).dtype),
                    out)


def linear_transpose(fun: Callable, *primals):
    """The transpose of a linear function, like jax.linear_transpose: fun_t(ct) is the tuple of
    cotangents of fun's arguments, one per primal. primals (arrays or ShapeDtypeStructs, in
    pytrees) give only the arguments' shapes and dtypes, which must be float. fun must be linear
    in its arguments; the transpose is fun's VJP at zero, so of an affine function it gives the
    linear part (JAX raises instead).

    Example:
        >>> spec = aotc.ShapeDtypeStruct((3,), "float32")
        >>> fun_t = aotc.linear_transpose(lambda x: 2 * x[::-1], spec)
        >>> fun_t(np.array([1, 2, 3], np.float32))       # (array([6., 4., 2.]),)
    """
    leaves, structure = tree.flatten(primals)
    specs = [spec_of(leaf) for leaf in leaves]
    for spec in specs:
        if not dtypes.is_inexact(spec.dtype) or None in spec.shape:
            raise TracingError(f"{caller_site()}: linear_transpose needs float arguments "
                               "(or complex ones) of "
                               f"static shape, got {spec}")
    out_shapes = _output_specs(fun, structure, specs)

    def fun_t(ct):
        if tree.structure(ct) != tree.structure(out_shapes):
            raise TracingError(f"{caller_site()}: the cotangent's structure "
                               f"{tree.structure(ct)!r} differs from the function's output "
                               f"{tree.structure(out_shapes)!r}")
        for c, out in zip(tree.leaves(ct), tree.leaves(out_shapes)):
            c = c if isinstance(c, Tracer) else np.asarray(c)
            if tuple(c.shape) != out.shape or c.dtype != out.dtype:
                raise TracingError(f"{caller_site()}: cotangent {tuple(c.shape)} {c.dtype} "
                                   f"does not match the output {out.shape} {out.dtype}")
        zeros = tree.unflatten(structure, [np.zeros(s.shape, s.dtype) for s in specs])
        _, pullback = vjp(fun, *zeros)
        return tuple(pullback(ct))

    return fun_t


def hessian(fun: Callable, argnums: int = 0):
    """The Hessian of a scalar function: jacfwd(jacrev(f))."""
    return jacfwd(jacrev(fun, argnums), argnums)
