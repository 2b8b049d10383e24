"""Convolution forms that IREE compiles well: filter gradients as one dot_general per tap.

A convolution's filter gradient is itself a convolution (JAX's transpose rule), but one whose
window is the whole output: IREE 3.13 compiles that "batch as feature" form into a direct loop
nest that ran 25-50x slower than JAX on the CNN of benchmarks/suite.py (99 ms of a 150 ms
gradient). Written per kernel tap instead, the filter gradient is a few matrix products:

    d rhs[o, i, k] = sum over n and output positions y of x[n, i, y*s + k*d] ct[n, o, y]

with x the input padded and lhs-dilated as the convolution does it. For each tap k of the
kernel, one strided slice of x contracted with the cotangent over batch and space gives the
(I, O) matrix of that tap; the taps are stacked back into the kernel's layout.
benchmarks/conv_forms.py measures the forms against each other.

Also here: widen_single_channel, the form of a forward convolution with one input feature
that IREE compiles well (lax.conv_general_dilated emits it).
"""

import numpy as np

from aotc.frontend.core.ir import ir, shape_of
from aotc.frontend.ops import linalg
from aotc.frontend.ops import shape as shape_ops
from aotc.frontend.ops import tensors as values

# Above this many kernel taps the per-tap form emits too many products; the convolution stays.
MAX_TAPS = 64


def use_taps(kernel_sizes, feature_group_count: int, batch_group_count: int) -> bool:
    """Whether the filter gradient takes the per-tap form: kernels of at most MAX_TAPS taps and
    no groups. Grouped convolutions keep JAX's form, which IREE compiles well for them: a
    depthwise 3x3 filter gradient (32 groups) took 4 ms as a convolution, 236 ms as per-tap
    products batched over groups and 8 ms as per-tap multiply-and-reduce."""
    return (int(np.prod(kernel_sizes)) <= MAX_TAPS and feature_group_count == 1
            and batch_group_count == 1)


def _padded_input(lhs: ir.Value, spatial, pads, lhs_dilation) -> ir.Value:
    """lhs with the convolution's padding and base dilation applied on its spatial dims."""
    rank = len(shape_of(lhs))
    low, high, interior = [0] * rank, [0] * rank, [0] * rank
    for d, (lo, hi), b in zip(spatial, pads, lhs_dilation):
        low[d], high[d], interior[d] = lo, hi, b - 1
    if not any(low) and not any(high) and not any(interior):
        return lhs
    return shape_ops.pad(lhs, values.scalar(0, values.element(lhs)), low, high, interior)


def _tap(x: ir.Value, spatial, offset, strides, rhs_dilation, out_sizes) -> ir.Value:
    """The input elements that kernel tap `offset` meets at every output position."""
    shape = shape_of(x)
    start, limit, step = [0] * len(shape), list(shape), [1] * len(shape)
    for d, k, s, r, n in zip(spatial, offset, strides, rhs_dilation, out_sizes):
        start[d], limit[d], step[d] = k * r, k * r + s * (n - 1) + 1, s
    return shape_ops.slice(x, start, limit, step)


def filter_gradient(lhs: ir.Value, ct: ir.Value, dimension_numbers, kernel_sizes, strides,
                    pads, lhs_dilation, rhs_dilation) -> ir.Value:
    """The cotangent of an ungrouped convolution's rhs (kernel), in the kernel's layout, as one
    dot_general per kernel tap. lhs is the convolution's input, ct the cotangent of its output
    (non-empty, static shapes); the other arguments are the convolution's own (kernel_sizes:
    its spatial sizes in spatial order)."""
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    out_sizes = [shape_of(ct)[d] for d in out_spec[2:]]
    x = _padded_input(lhs, lhs_spec[2:], pads, lhs_dilation)
    contracting = ([lhs_spec[0], *lhs_spec[2:]], [out_spec[0], *out_spec[2:]])
    products = []
    for offset in np.ndindex(*kernel_sizes):
        tap = _tap(x, lhs_spec[2:], offset, strides, rhs_dilation, out_sizes)
        product = linalg.dot_general(tap, ct, contracting, element=values.element(ct))  # (I, O)
        products.append(shape_ops.reshape(product, [1, *shape_of(product)]))
    return _kernel_layout(shape_ops.concatenate(products, 0), kernel_sizes, rhs_spec)


def _kernel_layout(stacked: ir.Value, kernel_sizes, rhs_spec) -> ir.Value:
    """(taps, I, O) products -> (K..., I, O) -> (O, I, K...) -> the kernel in rhs_spec's layout."""
    spatial = len(kernel_sizes)
    x = shape_ops.reshape(stacked, [*kernel_sizes, *shape_of(stacked)[1:]])
    canonical = shape_ops.transpose(x, [spatial + 1, spatial, *range(spatial)])
    return shape_ops.transpose(canonical, list(np.argsort(rhs_spec)))


def widen_single_channel(lhs: ir.Value, rhs: ir.Value, lhs_spec, rhs_spec):
    """(lhs, rhs) of an ungrouped convolution with one input feature, each padded with a zero
    feature: the same result, which IREE 3.13 computes 9x faster (a 3x3 NHWC convolution of
    64x28x28x1 images into 16 features took 3.6 ms of CPU as it is, 0.41 ms widened; its
    direct loop nest for one input channel is slow)."""

    def widened(x: ir.Value, feature_dim: int) -> ir.Value:
        rank = len(shape_of(x))
        high = [1 if d == feature_dim else 0 for d in range(rank)]
        return shape_ops.pad(x, values.scalar(0, values.element(x)), [0] * rank, high)

    return widened(lhs, lhs_spec[1]), widened(rhs, rhs_spec[1])
