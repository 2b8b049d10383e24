"""Export a corpus program with JAX, transform it with aotc, and compute JAX's answers.

For a program p with example arguments `args` (flattened to leaves):
- export: `jax.jit(flat_fn, keep_unused=True).lower(*leaves).as_text()`, flat_fn taking and
  returning flat leaves;
- grad: `aotc.differentiate(text, argnums, max_steps=p.max_steps)` adds `main_vjp(leaves...,
  cotangents...)`; expected: the outputs and `jax.grad` of sum_i sum(out_i * ct_i) with fixed
  random cotangents ct_i, one per float output;
- jvp: `aotc.differentiate(text, argnums, mode="forward")` adds `main_jvp(leaves...,
  directions...)`; expected: `jax.jvp` along fixed random directions;
- vmap: `aotc.vectorize(text, in_axes, axis_size=3)` adds `main_vmap`; expected: `jax.vmap`.

Metric (`error` below): per output array, |got - want|_inf / max(|want|_inf, 1), the max-norm
error relative to the array's largest entry, absolute for arrays whose entries are all below 1
(atol = rtol = tolerance: a gradient that is mathematically zero, such as that of an attention
key bias, is float32 rounding noise on both sides, and its relative error means nothing). NaNs
must sit where JAX has them; integer and bool outputs must be equal. TOLERANCE: 2e-4 for grad
and jvp, 1e-4 for vmap.
"""

import zlib
from dataclasses import dataclass

import jax
import numpy as np
from corpus_flax import FLAX
from corpus_programs import (
    DYNAMIC,
    GATHER_SCATTER,
    LOOPS,
    LOSSES,
    MIXED,
    NN,
    OPTIMIZERS,
    SORTING,
    SPECIAL,
    Program,
)

import aotc
from aotc.frontend.core.ir import ir, new_context

jax.config.update("jax_platforms", "cpu")

PROGRAMS: list[Program] = [*NN, *SPECIAL, *LOSSES, *OPTIMIZERS, *FLAX, *SORTING,
                           *GATHER_SCATTER, *DYNAMIC, *MIXED, *LOOPS]
TRANSFORMS = ("grad", "jvp", "vmap")
BACKENDS = ("interpreter", "iree")
TOLERANCE = {"grad": 2e-4, "jvp": 2e-4, "vmap": 1e-4}
SIZE = 3  # vmap lanes
ENTRY = {"grad": "main_vjp", "jvp": "main_jvp", "vmap": "main_vmap"}


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def _is_float(a) -> bool:
    """a (an array or a JAX tracer) has a floating dtype (bfloat16 included)."""
    return jax.numpy.issubdtype(a.dtype, jax.numpy.floating)


@dataclass
class Case:
    """One (program, transform): the aotc module (or the error building it), the entry
    function, its arguments and JAX's expected results."""

    module: object
    error: BaseException | None
    entry: str
    inputs: list
    expected: list


class Exported:
    """A program exported by JAX, with its leaves, argnums and in_axes."""

    def __init__(self, program: Program):
        self.program = program
        rng = np.random.default_rng(seed_of(program.name))
        args = program.make(rng)
        self.leaves = [np.asarray(x) for x in jax.tree.leaves(args)]
        self.treedef = jax.tree.structure(args)
        owner = [i for i, a in enumerate(args) for _ in jax.tree.leaves(a)]
        self.argnums = [j for j, x in enumerate(self.leaves)
                        if _is_float(x) and owner[j] not in program.no_grad]
        self.in_axes = [0 if owner[j] not in program.unbatched
                        and (_is_float(x) or program.batch_ints) else None
                        for j, x in enumerate(self.leaves)]
        self.text = jax.jit(self.flat(program.fn), keep_unused=True).lower(*self.leaves).as_text()

    def flat(self, fn):
        def flat_fn(*leaves):
            return tuple(jax.tree.leaves(fn(*jax.tree.unflatten(self.treedef, leaves))))
        return flat_fn

    def reference(self):
        return self.flat(self.program.reference or self.program.fn)

    def _random_like(self, values, salt: int) -> list:
        rng = np.random.default_rng(seed_of(self.program.name) + salt)
        return [rng.standard_normal(v.shape).astype(v.dtype)
                for v in values]

    def inputs(self) -> dict:
        """The aotc entry functions' arguments: leaves + cotangents (grad), leaves + directions
        (jvp), batched leaves (vmap)."""
        outs = jax.eval_shape(self.flat(self.program.fn), *self.leaves)
        cts = self._random_like([o for o in outs if _is_float(o)], 1)
        directions = self._random_like([self.leaves[j] for j in self.argnums], 2)
        lanes = [self.program.make(np.random.default_rng(seed_of(self.program.name) + 3 + k))
                 for k in range(SIZE)]
        lane_leaves = [[np.asarray(x) for x in jax.tree.leaves(a)] for a in lanes]
        batched = [x if ax is None else np.stack([lane[j] for lane in lane_leaves])
                   for j, (x, ax) in enumerate(zip(self.leaves, self.in_axes))]
        return {"grad": [*self.leaves, *cts], "jvp": [*self.leaves, *directions],
                "vmap": batched, "cts": cts, "directions": directions}

    def expected(self, inputs: dict) -> dict:
        """JAX's results for every transform, from one jit (one XLA compile per program)."""
        fn, ref, argnums = self.flat(self.program.fn), self.reference(), self.argnums

        def along(wrt):
            full = list(self.leaves)
            for j, w in zip(argnums, wrt):
                full[j] = w
            return [o for o in ref(*full) if _is_float(o)]

        def everything(leaves, cts, directions, batched):
            mapped = jax.vmap(fn, in_axes=self.in_axes)(*batched)
            if not argnums:  # nothing to differentiate (Program.undefined says so)
                return fn(*leaves), [], [], mapped
            wrt = [leaves[j] for j in argnums]
            grads = jax.grad(lambda w: sum((o.astype(np.float32) * ct.astype(np.float32)).sum()
                                           for o, ct in zip(along(w), cts)))(wrt)
            _, tangents = jax.jvp(along, (wrt,), (directions,))
            return fn(*leaves), grads, tangents, mapped

        outs, grads, tangents, mapped = jax.jit(everything).lower(
            self.leaves, inputs["cts"], inputs["directions"], inputs["vmap"]).compile(
            compiler_options={"xla_backend_optimization_level": 0})(
            self.leaves, inputs["cts"], inputs["directions"], inputs["vmap"])
        return {"grad": [*outs, *grads], "jvp": [*outs, *tangents], "vmap": list(mapped)}

    def build(self, transform: str):
        """The aotc module of one transform of the export."""
        if transform == "grad":
            return aotc.differentiate(self.text, argnums=tuple(self.argnums),
                                      max_steps=self.program.max_steps)
        if transform == "jvp":
            return aotc.differentiate(self.text, argnums=tuple(self.argnums), mode="forward")
        return aotc.vectorize(self.text, in_axes=self.in_axes, axis_size=SIZE)

    def cases(self) -> dict:
        """transform -> Case; a transform aotc fails to build keeps its error in the Case."""
        inputs = self.inputs()
        expected = self.expected(inputs)
        cases = {}
        for transform in TRANSFORMS:
            if transform in self.program.undefined:
                continue
            try:
                module, failure = self.build(transform), None
            except Exception as exc:  # noqa: BLE001 (any failure of aotc's transform is
                # the finding: the test of this (program, transform) raises it again)
                module, failure = None, exc
            cases[transform] = Case(module, failure, ENTRY[transform], inputs[transform],
                                    [np.asarray(e) for e in expected[transform]])
        return cases

def error(got, want) -> float:
    """The max-norm relative error of one output (see the module docstring)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return np.inf
    if not _is_float(want):
        return 0.0 if np.array_equal(got, want) else np.inf
    got, want = got.astype(np.float64), want.astype(np.float64)
    special = ~np.isfinite(want)  # NaN and +-inf must match exactly
    if not np.array_equal(got[special], want[special], equal_nan=True):
        return np.inf
    got, want = got[~special], want[~special]
    if got.size == 0:
        return 0.0
    return np.abs(got - want).max() / max(np.abs(want).max(), 1.0)


def check(outputs, case: Case, tol: float) -> None:
    """Every output within tol of JAX's (ERROR); the message names each failing output."""
    outputs = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    assert len(outputs) == len(case.expected), (
        f"{case.entry} returned {len(outputs)} values, JAX {len(case.expected)}")
    errors = [error(g, w) for g, w in zip(outputs, case.expected)]
    bad = [f"output {i}: relative error {e:.2e}" for i, e in enumerate(errors) if not e <= tol]
    assert not bad, f"{case.entry}: {'; '.join(bad)} (tolerance {tol:.0e})"


def merged_text(entries: list[tuple[str, object, str]]) -> str:
    """One module holding every (prefix, module, entry) function: each module's functions get
    the prefix, and all but the entry become private (IREE drops what the entries do not
    call). One IREE compile then serves many programs."""
    with new_context(), ir.Location.unknown():
        merged = ir.Module.create()
        for prefix, module, entry in entries:
            part = ir.Module.parse(str(module))
            for op in list(part.body.operations):
                name = ir.StringAttr(op.attributes["sym_name"]).value
                ir.SymbolTable.replace_all_symbol_uses(name, prefix + name, part.operation)
                ir.SymbolTable.set_symbol_name(op, prefix + name)
                op.attributes["sym_visibility"] = ir.StringAttr.get(
                    "public" if name == entry else "private")
            for op in list(part.body.operations):
                op.detach_from_parent()
                merged.body.append(op)
        return str(merged)
