"""`import aotc.lax`: see aotc.frontend.lax."""

from aotc.frontend.lax import *  # noqa: F401,F403
