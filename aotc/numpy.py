"""`import aotc.numpy as anp`: see aotc.frontend.numpy."""

from aotc.frontend.numpy import *  # noqa: F401,F403
from aotc.frontend.numpy import __getattr__  # noqa: F401
