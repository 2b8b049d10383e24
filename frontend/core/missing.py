"""The AttributeError of a facade module's missing name: feature detection (`hasattr`) keeps
working, and the message names the closest supported alternative and where to read more."""

import difflib
from collections.abc import Iterable

PORTING_NOTES = "the 'Quick start for JAX users' section of aotc's README.md"


def missing_attribute(module: str, name: str, public: Iterable[str], reference: str | None,
                      instead: dict[str, str] | None = None) -> AttributeError:
    """An AttributeError for `module.name`. reference is the library known to have the name
    (e.g. "numpy"), or None; instead maps names to what to use instead."""
    message = f"module {module!r} has no attribute {name!r}"
    if name.startswith("_"):
        return AttributeError(message)
    if reference is not None:
        message = f"{module}.{name} ({reference}.{name}) is not supported yet"
    if instead and name in instead:
        message += f"; use {instead[name]}"
    else:
        close = difflib.get_close_matches(name, sorted(public), n=3, cutoff=0.8)
        if close:
            message += "; the closest supported: " + ", ".join(f"{module}.{c}" for c in close)
    return AttributeError(f"{message} (see {PORTING_NOTES})")
