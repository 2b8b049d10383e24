"""A model file exercising the artifact format: pytrees in and out, dynamic dims, int dtypes,
a closed-over constant, example-array and ShapeSpec specs. Compiled by tests/runtime/conftest.py.
"""

import collections

import numpy as np

import aotc
import aotc.numpy as anp

W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5) / 10  # baked into `stats`
Pair = collections.namedtuple("Pair", ["lo", "hi"])
PARAMS = {"w": aotc.ShapeSpec((4, 3)), "b": aotc.ShapeSpec((3,))}


@aotc.export(params=PARAMS, x=aotc.ShapeSpec((None, 4)))
def predict(params, x):
    return anp.tanh(x @ params["w"] + params["b"])


@aotc.export(aotc.ShapeSpec((None, 4)), np.zeros((), np.int32))
def stats(x, k):
    y = x @ W
    return {"sum": y.sum(axis=0), "count": k + 1, "pair": Pair(y.min(), y.max()), "none": None}


@aotc.export(xs=[aotc.ShapeSpec(("n", "m")), aotc.ShapeSpec(("n", "m"))], scale=2.0)
def combine(xs, scale, offset=1.0):
    a, b = xs
    return (a * scale + offset, (b - a).astype(anp.int32))
