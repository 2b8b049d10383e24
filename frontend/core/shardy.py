"""JAX's Shardy (`sdy`) annotations in imported StableHLO text.

JAX marks some ops (its LAPACK custom_calls) with an `sdy.sharding_rule`: how the op's
dimensions map for sharding propagation, not a sharding, so every importer drops it (the `sdy`
dialect is not registered in aotc's contexts). Actual Shardy shardings (`sdy.mesh`,
`sdy.sharding` on arguments or results, `sdy.sharding_constraint`) are not dropped: each
importer refuses them with its own error, built from `SHARDINGS_FIX`, because compiling a
sharded program unsharded would be silently wrong.
"""

import re

from aotc.frontend.core.errors import TracingError

SHARDINGS_FIX = ("aotc's import does not read Shardy shardings; export the function without "
                 "shardings (jax.jit with no in_shardings/out_shardings or sharding "
                 "constraints, on one device) and shard it with aotc.shard_map or "
                 "aotc.sharding instead")

_SHARDING_RULE = re.compile(r"(, )?sdy\.sharding_rule = #sdy\.op_sharding_rule<")
_SDY_NAME = re.compile(r"\bsdy\.[A-Za-z_]+")


def without_sharding_rules(text: str) -> str:
    """text without its `sdy.sharding_rule = #sdy.op_sharding_rule<...>` attribute entries
    (and the comma joining each to its dictionary)."""
    if "sdy.sharding_rule" not in text:
        return text
    pieces, at = [], 0
    while (found := _SHARDING_RULE.search(text, at)) is not None:
        end = _closing_angle(text, found.end())
        pieces.append(text[at:found.start()])
        if found.group(1) is None and text.startswith(", ", end):
            end += 2  # the first entry of its dictionary: drop the comma after it instead
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def sharding_in(text: str) -> str | None:
    """The first Shardy name left in text (after without_sharding_rules), e.g. 'sdy.mesh', or
    None."""
    found = _SDY_NAME.search(text)
    return found.group() if found else None


def importable(text: str, error: type[Exception], where: str) -> str:
    """text without its sharding rules; error("<where> carries Shardy shardings ...") when
    real shardings remain."""
    text = without_sharding_rules(text)
    found = sharding_in(text)
    if found:
        raise error(f"{where} carries Shardy shardings ('{found}'): {SHARDINGS_FIX}")
    return text


def _closing_angle(text: str, start: int) -> int:
    """The index just past the `>` closing the `<` before `start` (the `->` of a rule's
    mapping is not a bracket)."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">" and text[i - 1] != "-":
            depth -= 1
            if depth == 0:
                return i + 1
    raise TracingError("could not parse the MLIR text: an sdy.op_sharding_rule attribute "
                       "is not closed")
