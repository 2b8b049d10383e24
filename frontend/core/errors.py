"""aotc's error hierarchy (STYLE.md): every message names what failed, where, and what to do."""

from aotc_runtime.errors import AotcError, ArtifactError, InputError

__all__ = [
    "AotcError",
    "ArtifactError",
    "InputError",
    "TracingError",
    "ConcretizationError",
    "MissingRuleError",
    "CompileError",
]


class TracingError(AotcError):
    """A traced program is malformed: mismatched shapes or dtypes, bad axes, bad arguments."""


class ConcretizationError(TracingError):
    """Python control flow or a conversion needed the value of a traced array."""


class MissingRuleError(AotcError, NotImplementedError):
    """An op has no rule for a transform (interpret, jvp, transpose, batch, ...)."""

    def __init__(self, transform: str, op: str, where: str = ""):
        self.transform = transform
        self.op = op
        at = f" at {where}" if where else ""
        super().__init__(
            f"no {transform} rule for '{op}'{at}; aotc cannot {transform} this op yet. "
            "Rewrite the code without it or file an issue naming the op."
        )


class CompileError(AotcError):
    """IREE rejected a program; carries IREE's diagnostics."""
