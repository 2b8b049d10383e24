"""External weights: IREE parameter archives (.irpa) that artifacts bind at load.

An artifact compiled from exports with `aotc.Param` arguments records the key, shape and dtype
of every weight it needs. `aotc_runtime.load("mlp.vmfb")` opens `mlp.irpa` beside it (or
`weights=PATH`) and checks every entry before IREE sees the file, so a missing file or a
wrong name, shape or dtype fails at load with a message naming the entry.

    aotc_runtime.save_weights("retrained.irpa", {"params": new_params})
    m = aotc_runtime.load("mlp.vmfb", weights="retrained.irpa")   # no recompile

Entries are written with IREE's tensor metadata (shape and dtype), which `iree-run-module
--parameters=model=mlp.irpa` ignores and this runtime requires and checks: an entry without it
(as `iree-create-parameters` writes) could hold float16 bytes where float32 is expected.

Name, shape and dtype cannot catch changed values. An artifact that records the SHA-256 of its
weights (`aotc.weights_digest`) gets the file beside it checked against that digest at load;
`weights=PATH` picks other weights on purpose and skips it, unless `weights_digest=` is given.

    path, digest = aotc_runtime.save_weights("mlp.irpa", {"params": p}, digest=True)
    m = aotc_runtime.load("mlp.vmfb", weights=path, weights_digest=digest)
"""

import hashlib
import json
import os
import re

import iree.runtime as rt
import numpy as np

from aotc_runtime.errors import ArtifactError, WeightsError
from aotc_runtime.files import NotARegularFile, check_regular, replace_atomically
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


def file_digest(path) -> str:
    """The SHA-256 (hex) of a file: what an artifact records as `aotc.weights_digest`.

    Example:
        >>> aotc_runtime.weights.file_digest("mlp.irpa")
        '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
    """
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save_weights(path, weights: dict, *, digest: bool = False) -> str | tuple[str, str]:
    """Write weights (a dict, nested like the exported Param, of numpy arrays) to an .irpa.

    Keys are paths: {"params": {"w1": a}} and {"params/w1": a} both write 'params/w1'. The file
    is written atomically. Returns path, or with digest=True (path, SHA-256 of the file written):
    the digest to record in an artifact or to pass to `load(..., weights_digest=)`.

    Example:
        >>> aotc_runtime.save_weights("mlp.irpa", {"params": init_params(seed=1)})
        'mlp.irpa'
    """
    path = os.fspath(path)
    index = rt.ParameterIndex()
    for key, array in flatten(weights).items():
        rt.parameter_index_add_numpy_ndarray(index, key, np.ascontiguousarray(array))
    written = []

    def write(tmp: str) -> None:
        index.create_archive_file(tmp)
        written.append(file_digest(tmp))  # the bytes renamed into place, not a later file

    replace_atomically(path, write)
    return (path, written[0]) if digest else path


def needed(metadata: dict, source: str = "") -> dict[str, ArraySpec]:
    """The weights a module's functions bind: key -> ArraySpec (the union over functions)."""
    found: dict[str, ArraySpec] = {}
    for fn, meta in metadata.items():
        try:
            for key, entry in meta.get("weights", {}).items():
                shape = tuple(None if d is None else int(d) for d in entry["shape"])
                found[key] = ArraySpec(shape, _dtype(entry["dtype"]))
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ArtifactError(f"{source}: function '{fn}' has malformed weights metadata "
                                f"({type(exc).__name__}: {exc})") from None
    return found


def open_checked(path: str, specs: dict[str, ArraySpec], source: str,
                 digest: str | None = None) -> rt.ParameterIndex:
    """The parameter index of path, after checking it has every entry of specs, as specified.

    digest, when given, is the SHA-256 the file must have (checked before IREE reads it).
    """
    try:
        check_regular(path)
    except FileNotFoundError:
        raise WeightsError(f"{source} needs its weights file, and {path} does not exist; put "
                           "the .irpa written by `aotc compile` beside the artifact or pass "
                           "weights=PATH") from None
    except NotARegularFile as exc:
        raise WeightsError(f"weights {path}: is {exc.kind}, not an .irpa file") from None
    except OSError as exc:
        raise WeightsError(f"weights {path}: cannot read ({exc.strerror or exc})") from None
    if digest is not None:
        _check_digest(path, digest, source)
    index = rt.ParameterIndex()
    try:
        index.load(path)
        entries = dict(index.items())
    except Exception as exc:  # noqa: BLE001 (IREE raises ValueError, IndexError, RuntimeError)
        detail = re.sub(r"\S+\.c:\d+: [A-Z_]+; ", "", " ".join(str(exc).split()))
        raise WeightsError(f"weights {path}: not an IREE parameter archive (.irpa), or "
                           f"corrupt: {detail[:240]}") from None
    problems = []
    for key, spec in specs.items():
        entry = entries.get(key)
        if entry is None:
            problems.append(f"no entry '{key}' ({spec})")
            continue
        try:
            problem = _mismatch(entry, spec)
        except Exception as exc:  # noqa: BLE001 (a corrupt entry IREE could not describe)
            problem = f"is unreadable ({type(exc).__name__}: {exc})"
        if problem:
            problems.append(f"entry '{key}' {problem}")
    if problems:
        have = ", ".join(sorted(entries)[:12]) + (", ..." if len(entries) > 12 else "")
        raise WeightsError(f"weights {path} do not fit {source}: {'; '.join(problems)}. The file "
                           f"has: {have or 'no entries'}. Write weights with "
                           "aotc_runtime.save_weights (keys as `aotc inspect` lists them)")
    return index


def _check_digest(path: str, expected: str, source: str) -> None:
    try:
        actual = file_digest(path)
    except OSError as exc:
        raise WeightsError(f"weights {path}: cannot read ({exc.strerror or exc})") from None
    if actual != expected.lower():
        raise WeightsError(
            f"weights {path}: SHA-256 {actual[:16]}... does not match the digest {source} "
            f"expects ({expected[:16]}...): the file was modified, truncated or replaced. Copy "
            "the .irpa written with the artifact again, or pass weights=PATH to load other "
            "weights on purpose")


def _mismatch(entry, spec: ArraySpec) -> str | None:
    """What differs between an .irpa entry and the spec the artifact expects, or None."""
    nbytes = int(np.prod(spec.shape, dtype=np.int64)) * spec.dtype.itemsize
    metadata = bytes(entry.metadata or b"")
    if not metadata.startswith(_METADATA_PREFIX):
        return ("has no dtype/shape metadata (written by iree-create-parameters or "
                "rt.save_archive_file?), so its contents cannot be checked; write it with "
                "aotc_runtime.save_weights")
    try:
        info = json.loads(metadata[len(_METADATA_PREFIX):])
        shape, dtype = tuple(int(d) for d in info["shape"]), str(info["dtype"])
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
        return "has unreadable tensor metadata"
    got = f"{dtype}[{', '.join(map(str, shape))}]"
    if shape != spec.shape:
        return f"has shape {got}, expected {spec}"
    if dtype != spec.dtype.name:
        return f"has dtype {got}, expected {spec} (convert with .astype(np.{spec.dtype.name}))"
    if entry.length != nbytes:
        return f"holds {entry.length} bytes, expected {nbytes} for {spec}"
    return None


def parameters_module(index: rt.ParameterIndex, scope: str, instance,
                      path: str = "") -> rt.VmModule:
    """The io_parameters VM module serving index under scope."""
    try:
        return rt.create_io_parameters_module(instance, index.create_provider(scope=scope))
    except Exception as exc:  # noqa: BLE001 (IREE's errors, as WeightsError)
        raise WeightsError(f"weights {path}: IREE cannot serve them ({exc})") from None
