"""aotc's frontend: IR access, op registry, tracer, the aotc.numpy API and the interpreter."""
