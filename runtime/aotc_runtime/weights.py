"""External weights: IREE parameter archives (.irpa) that artifacts bind at load.

An artifact compiled from exports with `aotc.Param` arguments records the key, shape and dtype
of every weight it needs. `aotc_runtime.load("mlp.vmfb")` opens `mlp.irpa` beside it (or
`weights=PATH`) and checks every entry before IREE sees the file, so a missing file or a
wrong name, shape or dtype fails at load with a message naming the entry.

    aotc_runtime.save_weights("retrained.irpa", {"params": new_params})
    m = aotc_runtime.load("mlp.vmfb", weights="retrained.irpa")   # no recompile

Entries are written with IREE's tensor metadata (shape and dtype), which `iree-run-module
--parameters=model=mlp.irpa` ignores and this runtime checks.
"""

import json
import os
import re

import iree.runtime as rt
import numpy as np

from aotc_runtime.errors import WeightsError
from aotc_runtime.files import replace_atomically
from aotc_runtime.signature import ArraySpec, _dtype

_METADATA_PREFIX = b"TENSORv0:"


def default_path(source: str) -> str:
    """The weights file beside an artifact: 'dist/mlp.irpa' for 'dist/mlp.vmfb'."""
    return os.path.splitext(source)[0] + ".irpa"


def flatten(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """Keys 'params/w1' for a pytree of dicts, lists and tuples of arrays (dict keys sorted)."""
    if isinstance(tree, dict):
        items = [(str(k), tree[k]) for k in sorted(tree, key=str)]
    elif isinstance(tree, (list, tuple)):
        items = [(f, v) for f, v in zip(getattr(tree, "_fields", range(len(tree))), tree)]
    else:
        if not prefix:
            raise WeightsError("save_weights needs a dict of arrays keyed by name, e.g. "
                               "{'params': params}")
        return {prefix: np.asarray(tree)}
    out: dict[str, np.ndarray] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return out


def save_weights(path, weights: dict) -> str:
    """Write weights (a dict, nested like the exported Param, of numpy arrays) to an .irpa.

    Keys are paths: {"params": {"w1": a}} and {"params/w1": a} both write 'params/w1'. The file
    is written atomically. Returns path.

    Example:
        >>> aotc_runtime.save_weights("mlp.irpa", {"params": init_params(seed=1)})
        'mlp.irpa'
    """
    path = os.fspath(path)
    index = rt.ParameterIndex()
    for key, array in flatten(weights).items():
        rt.parameter_index_add_numpy_ndarray(index, key, np.ascontiguousarray(array))
    replace_atomically(path, index.create_archive_file)
    return path


def needed(metadata: dict) -> dict[str, ArraySpec]:
    """The weights a module's functions bind: key -> ArraySpec (the union over functions)."""
    found: dict[str, ArraySpec] = {}
    for meta in metadata.values():
        for key, entry in meta.get("weights", {}).items():
            found[key] = ArraySpec(tuple(entry["shape"]), _dtype(entry["dtype"]))
    return found


def open_checked(path: str, specs: dict[str, ArraySpec], source: str) -> rt.ParameterIndex:
    """The parameter index of path, after checking it has every entry of specs, as specified."""
    if not os.path.exists(path):
        raise WeightsError(f"{source} needs its weights file, and {path} does not exist; put "
                           "the .irpa written by `aotc compile` beside the artifact or pass "
                           "weights=PATH")
    if os.path.isdir(path):
        raise WeightsError(f"weights {path}: is a directory, not an .irpa file")
    index = rt.ParameterIndex()
    try:
        index.load(path)
    except (RuntimeError, ValueError, OSError) as exc:
        detail = re.sub(r"\S+\.c:\d+: [A-Z_]+; ", "", " ".join(str(exc).split()))
        raise WeightsError(f"weights {path}: not an IREE parameter archive (.irpa): "
                           f"{detail[:240]}") from None
    entries = dict(index.items())
    problems = []
    for key, spec in specs.items():
        entry = entries.get(key)
        if entry is None:
            problems.append(f"no entry '{key}' ({spec})")
            continue
        problem = _mismatch(entry, spec)
        if problem:
            problems.append(f"entry '{key}' {problem}")
    if problems:
        have = ", ".join(sorted(entries)[:12]) + (", ..." if len(entries) > 12 else "")
        raise WeightsError(f"weights {path} do not fit {source}: {'; '.join(problems)}. The file "
                           f"has: {have or 'no entries'}. Write weights with "
                           "aotc_runtime.save_weights (keys as `aotc inspect` lists them)")
    return index


def _mismatch(entry, spec: ArraySpec) -> str | None:
    """What differs between an .irpa entry and the spec the artifact expects, or None."""
    nbytes = int(np.prod(spec.shape, dtype=np.int64)) * spec.dtype.itemsize
    metadata = bytes(entry.metadata or b"")
    if metadata.startswith(_METADATA_PREFIX):
        try:
            info = json.loads(metadata[len(_METADATA_PREFIX):])
            shape, dtype = tuple(int(d) for d in info["shape"]), str(info["dtype"])
        except (ValueError, KeyError, TypeError):
            return "has unreadable tensor metadata"
        got = f"{dtype}[{', '.join(map(str, shape))}]"
        if shape != spec.shape:
            return f"has shape {got}, expected {spec}"
        if dtype != spec.dtype.name:
            return f"has dtype {got}, expected {spec} (convert with .astype(np.{spec.dtype.name}))"
    if entry.length != nbytes:
        return f"holds {entry.length} bytes, expected {nbytes} for {spec}"
    return None


def parameters_module(index: rt.ParameterIndex, scope: str, instance) -> rt.VmModule:
    """The io_parameters VM module serving index under scope."""
    return rt.create_io_parameters_module(instance, index.create_provider(scope=scope))
