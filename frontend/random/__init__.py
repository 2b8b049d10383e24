"""aotc.random: JAX's threefry2x32 random numbers, bit-exact, in portable StableHLO."""
