"""`import aotc.nn`: see aotc.frontend.nn."""

from aotc.frontend.nn import *  # noqa: F401,F403
