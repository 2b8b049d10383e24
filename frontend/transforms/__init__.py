"""The JAX-style transforms API: grad family, vmap, custom derivatives, transforms of imported
StableHLO."""
