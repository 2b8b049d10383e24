"""The aotc artifact format: a standard IREE `.vmfb`, sealed with a SHA-256 and described by
`iree.reflection` metadata on every exported function.

An IREE 3.x `.vmfb` is a ZIP archive (`module.fb`, the VM flatbuffer, plus embedded executables).
aotc seals it by writing `aotc-sha256:<hex digest>` into the ZIP archive comment, the last bytes
of the file; the digest covers every byte before the hex digits. ZIP readers, `iree-run-module`
and `iree-dump-module` ignore the comment, so a sealed artifact stays a standard `.vmfb`. The
runtime checks the seal before IREE parses a single byte: IREE trusts the flatbuffer and the
embedded machine code, and a flipped bit can crash the process instead of raising an error.

The seal detects corruption (truncated downloads, bad disks, edited files); it is not a
signature and does not make a deliberately forged file safe to load.
"""

import hashlib
import json
import re
import struct

from aotc_runtime.errors import ArtifactError

FORMAT_VERSION = 1
SEAL_PREFIX = b"aotc-sha256:"
_DIGEST_HEX = 64
_COMMENT_LEN = len(SEAL_PREFIX) + _DIGEST_HEX
_EOCD = b"PK\x05\x06"  # ZIP end-of-central-directory record; its last field is the comment size
_EOCD_SIZE = 22
_LOCAL_HEADER = b"PK\x03\x04"
_FLATBUFFER_ID = b"IREE"

# Keys of the `iree.reflection` dictionary of every exported function.
KEY_FORMAT = "aotc.format"
KEY_VERSION = "aotc.version"
KEY_TARGET = "aotc.target"
KEY_DRIVER = "aotc.driver"
KEY_SIGNATURE = "aotc.signature"
METADATA_KEYS = (KEY_FORMAT, KEY_VERSION, KEY_TARGET, KEY_DRIVER, KEY_SIGNATURE)
# Optional keys: the CPU architecture of llvm-cpu code ('x86_64', 'aarch64'; '' otherwise),
# the external weights the module binds ({key: {"shape": [...], "dtype": "float32"}}, JSON) and
# the SHA-256 (64 hex digits) of the .irpa written with it, checked when load() opens the
# weights file beside the artifact (see aotc_runtime.weights.file_digest). The CPU features the
# code needs are not aotc metadata: IREE records them in the module (see aotc_runtime.cpu).
KEY_ARCH = "aotc.arch"
KEY_WEIGHTS = "aotc.weights"
KEY_WEIGHTS_DIGEST = "aotc.weights_digest"
# How many IREE devices a program compiled for a mesh runs on ("4"; absent: 1). The compiler's
# multi-device lowering (aotc.tools.compile) writes it on every public function, aotc's or not.
KEY_DEVICES = "aotc.devices"
# The program's estimated cost, JSON ({"work": ..., "loop_work": ..., "loops": ...}), which the
# compiler (aotc.tools.flags_policy) writes on every public function of a CPU program and
# aotc_runtime.policy reads to pick local-sync or local-task when load() is given no device.
KEY_COST = "aotc.cost"
# The byte alignment the program's CPU code assumes of its input buffers ("16"; absent: 64, what
# IREE assumes by default). The compiler (aotc.tools.flags_policy) compiles llvm-cpu programs for
# 16, numpy's malloc alignment, so that aotc_runtime imports large numpy inputs in place instead
# of copying them; artifacts without it get only 64-byte aligned inputs imported.
KEY_INPUT_ALIGNMENT = "aotc.input_alignment"
# The scope of `#flow.parameter.named<"model"::"key">`: iree-run-module --parameters=model=F.irpa
WEIGHTS_SCOPE = "model"


def seal(vmfb: bytes) -> bytes:
    """Append the aotc seal (SHA-256 in the ZIP comment) to IREE's `.vmfb` bytes."""
    eocd = len(vmfb) - _EOCD_SIZE
    if len(vmfb) < _EOCD_SIZE or vmfb[eocd:eocd + 4] != _EOCD or vmfb[-2:] != b"\0\0":
        raise ArtifactError("IREE's output is not a ZIP-framed .vmfb without a comment; "
                            "cannot seal it (is iree-base-compiler 3.13 installed?)")
    body = vmfb[:-2] + struct.pack("<H", _COMMENT_LEN) + SEAL_PREFIX
    return body + hashlib.sha256(body).hexdigest().encode("ascii")


def is_sealed(data: bytes) -> bool:
    """Whether data ends with an aotc seal (not whether the seal is intact)."""
    return len(data) > _COMMENT_LEN and data[-_COMMENT_LEN:-_DIGEST_HEX] == SEAL_PREFIX


def check(data: bytes, source: str, unsealed_hint: str = "recompile it with `aotc compile "
          "model.py`") -> None:
    """Raise ArtifactError unless data is an intact, sealed aotc artifact.

    unsealed_hint ends the message about a file without a seal (what to do instead).

    Example:
        check(open("mlp.vmfb", "rb").read(), "mlp.vmfb")
    """
    if len(data) < 64 or data[:4] != _LOCAL_HEADER:
        kind = "an empty file" if not data else "not an IREE .vmfb (no ZIP/flatbuffer header)"
        raise ArtifactError(f"{source}: {kind}; compile a model with `aotc compile model.py`")
    if _FLATBUFFER_ID not in data[:256]:
        raise ArtifactError(f"{source}: not an IREE .vmfb (no 'IREE' flatbuffer identifier); "
                            "compile a model with `aotc compile model.py`")
    if not is_sealed(data):
        raise ArtifactError(
            f"{source}: not an aotc artifact, or truncated (no aotc seal at the end of the file); "
            f"{unsealed_hint}")
    digest = data[-_DIGEST_HEX:]
    body = data[:-_DIGEST_HEX]
    eocd = len(data) - _COMMENT_LEN - _EOCD_SIZE
    if data[eocd:eocd + 4] != _EOCD or data[eocd + 20:eocd + 22] != struct.pack("<H",
                                                                             _COMMENT_LEN):
        raise ArtifactError(f"{source}: corrupt artifact (bad ZIP end record); recompile it")
    if hashlib.sha256(body).hexdigest().encode("ascii") != digest:
        raise ArtifactError(f"{source}: corrupt artifact (SHA-256 does not match its seal: the "
                            "file was truncated or modified); recompile or copy it again")


def device_count(reflection: dict, function: str, source: str) -> int:
    """How many devices a function's program needs: its KEY_DEVICES entry (1 if absent)."""
    text = reflection.get(KEY_DEVICES, "1")
    if not (isinstance(text, str) and re.fullmatch(r"[0-9]{1,4}", text) and int(text) >= 1):
        raise ArtifactError(f"{source}: function '{function}' has a malformed {KEY_DEVICES} "
                            f"({text[:80]!r}; expected a device count such as '4')")
    return int(text)


def read_metadata(reflection: dict, function: str, source: str) -> dict:
    """The aotc metadata of one function's `iree.reflection` dict, checked for this runtime."""
    missing = [k for k in METADATA_KEYS if k not in reflection]
    if missing:
        raise ArtifactError(f"{source}: function '{function}' has no aotc metadata "
                            f"({', '.join(missing)}); not an aotc artifact")
    version = reflection[KEY_FORMAT]
    if version != str(FORMAT_VERSION):
        raise ArtifactError(
            f"{source}: artifact format {version}, but this aotc_runtime reads format "
            f"{FORMAT_VERSION}; install the aotc-runtime matching aotc {reflection[KEY_VERSION]}")
    try:
        signature = json.loads(reflection[KEY_SIGNATURE])
        weights = json.loads(reflection.get(KEY_WEIGHTS) or "{}")
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{source}: function '{function}' has unreadable signature "
                            f"metadata ({exc})") from None
    digest = reflection.get(KEY_WEIGHTS_DIGEST) or None
    if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ArtifactError(f"{source}: function '{function}' has a malformed "
                            f"{KEY_WEIGHTS_DIGEST} ({digest[:80]!r}; expected 64 hex digits)")
    return {
        "format": int(version),
        "aotc_version": reflection[KEY_VERSION],
        "target": reflection[KEY_TARGET],
        "driver": reflection[KEY_DRIVER],
        "arch": reflection.get(KEY_ARCH) or None,
        "weights": weights,
        "weights_digest": digest,
        "signature": signature,
        "devices": device_count(reflection, function, source),
    }
