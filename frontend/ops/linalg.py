"""Contractions: dot_general (convolution lives in conv.py)."""

import re

import numpy as np

from aotc.frontend.ir import ir, shape_of, tensor_type
from aotc.frontend.registry import defop, emit1

_DIMS = ("lhs_batching_dimensions", "rhs_batching_dimensions",
         "lhs_contracting_dimensions", "rhs_contracting_dimensions")


def dot_dimensions(attr_text: str) -> dict[str, list[int]]:
    """Parse '#stablehlo.dot<lhs_batching_dimensions = [0], ...>' into lists (absent = [])."""
    found = {k: [int(d) for d in v.split(",") if d.strip()]
             for k, v in re.findall(r"(\w+) = \[([\d, ]*)\]", attr_text)}
    return {k: found.get(k, []) for k in _DIMS}


def _free(rank, batch, contract):
    return [d for d in range(rank) if d not in batch and d not in contract]


def _dot_general_type(types, attrs):
    dims = dot_dimensions(attrs.text("dot_dimension_numbers"))
    lhs, rhs = shape_of(types[0]), shape_of(types[1])
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    shape = [lhs[d] for d in lb] + [lhs[d] for d in _free(len(lhs), lb, lc)]
    shape += [rhs[d] for d in _free(len(rhs), rb, rc)]
    return [tensor_type(shape, ir.RankedTensorType(types[0]).element_type)]


def _dot_general_impl(ctx, lhs, rhs):
    dims = dot_dimensions(ctx.attrs.text("dot_dimension_numbers"))
    lb, rb, lc, rc = (dims[k] for k in _DIMS)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    lhs_sub = [next(letters) for _ in range(lhs.ndim)]
    rhs_sub = [next(letters) for _ in range(rhs.ndim)]
    for l, r in zip(lb + lc, rb + rc):
        rhs_sub[r] = lhs_sub[l]
    out = [lhs_sub[d] for d in lb] + [lhs_sub[d] for d in _free(lhs.ndim, lb, lc)]
    out += [rhs_sub[d] for d in _free(rhs.ndim, rb, rc)]
    spec = f"{''.join(lhs_sub)},{''.join(rhs_sub)}->{''.join(out)}"
    return np.einsum(spec, lhs, rhs)


defop("stablehlo.dot_general", _dot_general_type, _dot_general_impl)


def dot_general(lhs: ir.Value, rhs: ir.Value, contracting, batch=((), ())) -> ir.Value:
    """`stablehlo.dot_general`: result dims are batch, lhs free, rhs free (in that order)."""
    (lc, rc), (lb, rb) = contracting, batch
    text = ", ".join(f"{name} = [{', '.join(str(d) for d in dims)}]"
                     for name, dims in zip(_DIMS, (lb, rb, lc, rc)) if dims)
    attr = ir.Attribute.parse(f"#stablehlo.dot<{text}>")
    return emit1("stablehlo.dot_general", [lhs, rhs], {"dot_dimension_numbers": attr})
