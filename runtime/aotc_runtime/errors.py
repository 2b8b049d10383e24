"""The aotc error hierarchy's root and the errors the runtime raises.

The compiler side (`aotc.errors`) extends this hierarchy, so one `except AotcError` catches
every failure aotc reports, whether it came from tracing, compiling or running.
"""


class AotcError(Exception):
    """Base class of every error aotc raises on purpose."""


class ArtifactError(AotcError):
    """An artifact is missing, corrupt, not made by aotc, or made for an absent device."""


class WeightsError(ArtifactError):
    """An artifact's weights file (.irpa) is missing, unreadable, or does not fit the artifact."""


class InputError(AotcError, ValueError):
    """A call's inputs do not match the exported signature (count, names, shapes, dtypes)."""


class ExecutionError(AotcError, RuntimeError):
    """IREE failed while running a function (the inputs passed every check aotc can make)."""
