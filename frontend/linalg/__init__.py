"""aotc.numpy.linalg and aotc.scipy.linalg: linear algebra in portable StableHLO.

Every function is built from loops, dot_general and elementwise ops (no custom calls), so it
compiles for every IREE target. The modules:

- factor: triangular factorizations and solves (cholesky, lu, qr, solve, inv, det, ...), each a
  custom_jvp with JAX's derivative rule;
- kernels: their primal algorithms, blocked loops with unrolled panel steps and matmul updates;
- scipy_api: jax.scipy.linalg's signatures of factor's functions (cholesky upper, lu (p, l, u),
  cho_factor/cho_solve, solve(assume_a=...), ...);
- spectral: eigen- and singular-value decompositions and what is built on them;
- products: products (multi_dot, matrix_power, tensorsolve, tensorinv, cross, ...);
- lapack_calls: rules for the LAPACK custom_calls of JAX's CPU exports (`@lapack_spotrf_ffi`,
  ...), which expand them into the functions above; importing the package registers them.
"""

from aotc.frontend.linalg import lapack_calls  # noqa: F401  (registers the LAPACK call rules)
