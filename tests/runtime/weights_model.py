"""A model with external weights (aotc.Param -> weights_model.irpa), compiled by
tests/runtime/conftest.py for the weights and fuzz tests."""

import numpy as np

import aotc

RNG = np.random.default_rng(7)
WEIGHTS = {"w": RNG.standard_normal((4, 3)).astype(np.float32),
           "b": RNG.standard_normal(3).astype(np.float32)}


@aotc.export(params=aotc.Param(WEIGHTS), x=aotc.ShapeSpec((None, 4)))
def affine(params, x):
    return x @ params["w"] + params["b"]


def reference(params, x):
    return x.astype(np.float64) @ params["w"] + params["b"]
