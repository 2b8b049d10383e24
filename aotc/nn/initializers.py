"""`import aotc.nn.initializers`: see aotc.frontend.initializers. The init functions work
eagerly outside a trace too."""

from aotc.frontend.initializers import *
from aotc.frontend.initializers import __getattr__
