"""Module-to-module transforms on StableHLO (autodiff, batching, cleanup)."""
