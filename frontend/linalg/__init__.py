"""aotc.numpy.linalg and aotc.scipy.linalg: linear algebra in portable StableHLO."""
