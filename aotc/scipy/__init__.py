"""`import aotc.scipy`: JAX's jax.scipy namespaces (linalg, special)."""
