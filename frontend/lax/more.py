"""More of jax.lax's names: elementwise math and bit ops, dtype and shape helpers, sorting,
reductions, cumulative reductions and `associative_scan`.

jax.lax is strict about dtypes: a binary op of two arrays of different dtypes is an error
(Python scalars adapt). These functions mirror that with a TracingError naming both dtypes,
and float-only functions reject integer operands, as jax.lax does.

    import aotc.lax as lax
    lax.cumsum(x, axis=0, reverse=True)
    lax.sort((keys, values), num_keys=1)
    lax.associative_scan(lax.add, xs)
"""


from aotc.frontend.lax import more_conv, more_elementwise, more_igamma, more_shapes, more_sorting
from aotc.frontend.lax.more_conv import *  # noqa: F403
from aotc.frontend.lax.more_elementwise import *  # noqa: F403
from aotc.frontend.lax.more_igamma import *  # noqa: F403
from aotc.frontend.lax.more_shapes import *  # noqa: F403
from aotc.frontend.lax.more_sorting import *  # noqa: F403

__all__ = [*more_conv.__all__, *more_elementwise.__all__, *more_igamma.__all__,
           *more_shapes.__all__, *more_sorting.__all__]
