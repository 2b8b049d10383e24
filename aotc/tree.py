"""`aotc.tree`: pytree utilities, see aotc.frontend.core.tree."""

from aotc.frontend.core.tree import TreeDef, flatten, leaves, map, register, structure, unflatten

__all__ = ["TreeDef", "flatten", "leaves", "map", "register", "structure", "unflatten"]
