"""aotc.nn.initializers: JAX's parameter initializers, drawn with aotc.random."""
