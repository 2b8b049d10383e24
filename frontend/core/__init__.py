"""Core: MLIR bindings, dtypes, pytrees, errors, source locations, rule tables and op emission."""
