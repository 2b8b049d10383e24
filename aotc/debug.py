"""aotc.debug: jax.debug's print for traced programs.

    aotc.debug.print("loss = {}", loss)   # printed each time the compiled program runs
"""

from aotc.frontend.trace.debug import debug_print as print

__all__ = ["print"]
