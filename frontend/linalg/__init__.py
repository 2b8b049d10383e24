"""aotc.numpy.linalg and aotc.scipy.linalg: linear algebra in portable StableHLO.

Every function is built from loops, dot_general and elementwise ops (no custom calls), so it
compiles for every IREE target. The modules:

- factor: triangular factorizations and solves (cholesky, lu, qr, solve, inv, det, ...);
- spectral: eigen- and singular-value decompositions and what is built on them;
- products: norms and products (norm, multi_dot, cross, kron, matrix_power, ...).
"""
