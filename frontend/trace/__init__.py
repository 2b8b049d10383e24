"""Tracing: Tracer, staging into func.func, lowering, eager calls."""
