"""Transforms of StableHLO that aotc did not trace (JAX exports, files): differentiate,
vectorize."""


from aotc.frontend.core.errors import TracingError
from aotc.frontend.core.ir import ir
from aotc.frontend.lax.control import CHECKPOINTS, bound_while_loops
from aotc.frontend.trace.staging import parse_module
from aotc.passes import autodiff, batching
from aotc.passes import functions as util


def differentiate(mlir_text_or_module, function: str = "main", argnums=(0,),
                  mode: str = "reverse", max_steps: int | None = None,
                  checkpoint: str = "all") -> ir.Module:
    """Add the derivative of `function` of a StableHLO module (from aotc, JAX, torch-mlir, ...).

    mode="reverse" adds `@<function>_vjp(args..., output cotangents...) -> (outputs...,
    cotangents of args[argnums]...)`; mode="forward" adds `@<function>_jvp(args..., tangents of
    args[argnums]...) -> (outputs..., output tangents...)`. Returns the module.

    Reverse mode through an uncounted `while` (JAX's while_loop) needs `max_steps=N`: every
    such loop of the module (the original function's too) first becomes a counted loop of N
    steps that skips the body once the loop's condition fails (aotc.lax.while_loop's
    max_steps; a loop needing more than N steps stops after N). checkpoint="sqrt" keeps
    O(sqrt(N)) carries instead of N and recomputes the rest.

    Example:
        >>> text = jax.jit(loss).lower(params, x).as_text()
        >>> module = aotc.differentiate(text, argnums=(0,))
    """
    module = (parse_module(mlir_text_or_module) if isinstance(mlir_text_or_module, str)
              else mlir_text_or_module)
    argnums = [argnums] if isinstance(argnums, int) else list(argnums)
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0:
            raise TracingError(f"differentiate: max_steps must be an int >= 0, got {max_steps!r}")
        if checkpoint not in CHECKPOINTS:
            raise TracingError(f"differentiate: checkpoint must be one of {CHECKPOINTS}, got "
                               f"{checkpoint!r}")
        with module.context, ir.Location.unknown():
            bound_while_loops(module, max_steps, checkpoint)
    if mode == "reverse":
        autodiff.vjp(module, function, argnums, name=util.unique_name(module, f"{function}_vjp"))
    elif mode == "forward":
        autodiff.jvp(module, function, tangent_args=argnums,
                     name=util.unique_name(module, f"{function}_jvp"))
    else:
        raise ValueError(f"mode must be 'reverse' or 'forward', got {mode!r}")
    with module.context:
        module.operation.verify()
    return module


def vectorize(mlir_text_or_module, function: str = "main", in_axes=(0,),
              axis_size: int | None = None, out_axes=0) -> ir.Module:
    """Add `@<function>_vmap`, the batched form of a per-example function of a StableHLO module:
    argument i gains a mapped axis of `axis_size` at in_axes[i] (None: not mapped); outputs get
    theirs at out_axes (one int or None for all, or one per output). Returns the module; when
    `<function>_vmap` is taken, the new function gets a numbered name.

    Example:
        >>> module = aotc.vectorize(jax.jit(f).lower(x, w).as_text(), in_axes=(0, None),
        ...                         axis_size=32)
    """
    if axis_size is None:
        raise TracingError("vectorize: pass axis_size, the size of the new mapped axis (the "
                           "imported function is written for one example)")
    module = (parse_module(mlir_text_or_module) if isinstance(mlir_text_or_module, str)
              else mlir_text_or_module)
    fn = util.find_function(module, function)
    with module.context:
        n_inputs = len(util.function_type(fn).inputs)
    if not isinstance(in_axes, (list, tuple)):
        in_axes = [in_axes] * n_inputs
    name = util.unique_name(module, f"{function}_vmap")
    batching.vmap(module, function, list(in_axes), int(axis_size), out_axes, name=name)
    with module.context:
        module.operation.verify()
    return module
