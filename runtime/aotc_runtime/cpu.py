"""CPU features: what an artifact's machine code needs, and whether this CPU has it.

Code compiled for CPU features this machine lacks (`aotc compile --cpu sapphirerapids` or
`--features +avx512fp16` loaded on an older CPU) loads fine in IREE and kills the process with
SIGILL at the first call. IREE records each llvm-cpu executable's target in the module itself,
readably: `#hal.executable.target<"llvm-cpu", "embedded-elf-x86_64", {cpu = "sapphirerapids",
cpu_features = "+avx,+avx2,...", ...}>`, with the feature list LLVM resolved (a CPU name is
already expanded, `host` is the compiling machine's CPU). `check(data, source)` reads those
lists and compares them with this CPU's flags from /proc/cpuinfo before IREE runs any code.

Policy on x86-64 (other architectures are checked by architecture only):
- instruction sets that generated code or IREE's microkernels use (SSE..AVX-512, FMA, F16C,
  BMI, AMX, ...) must be in /proc/cpuinfo (`CHECKED`);
- system or intrinsic-only instructions that a compiled numerical program never executes
  (SGX, TSX, RDRAND, XSAVE, cache control, user interrupts, ...) are not checked (`IGNORED`);
- features Linux does not list in /proc/cpuinfo (AVX-VNNI-INT8, AVX-NE-CONVERT, ...) cannot be
  checked and are assumed present (`UNLISTED`); every CPU that has them also has checked
  features (AVX-IFMA, AVX-VNNI) that an older CPU lacks, unless a single one is added by hand;
- any other feature name is unknown to this runtime: the load is refused, because its code
  could die with SIGILL. Recompile with `--target x86_64` (portable x86-64-v3) or a lower --cpu.
Without /proc/cpuinfo (not Linux) nothing can be compared and the check is skipped.
"""

import functools
import re

from aotc_runtime.errors import ArtifactError

# One IREE executable target, as the module prints it (MLIR sorts dictionary keys, so `cpu` and
# `cpu_features` come first).
_TARGET = re.compile(rb'#hal\.executable\.target<"llvm-cpu", "(?:embedded|system)-elf-(\w+)", '
                     rb'\{cpu = "([^"]{0,200})", cpu_features = "([^"]{0,4000})"')
_ARCH = {"x86_64": "x86_64", "arm_64": "aarch64", "riscv_64": "riscv64"}

_AVX10_1 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512ifma",
            "avx512vbmi", "avx512_vbmi2", "avx512_bitalg", "avx512_vnni", "avx512_bf16",
            "avx512_vpopcntdq", "avx512_fp16")
_APX = ("apx",)

# LLVM x86 feature -> the /proc/cpuinfo flags that must all be present.
CHECKED = {
    "64bit": ("lm",), "x87": ("fpu",), "cmov": ("cmov",), "cx8": ("cx8",), "cx16": ("cx16",),
    "mmx": ("mmx",), "fxsr": ("fxsr",), "sahf": ("lahf_lm",), "sse": ("sse",),
    "sse2": ("sse2",), "sse3": ("pni",), "ssse3": ("ssse3",), "sse4.1": ("sse4_1",),
    "sse4.2": ("sse4_2",), "crc32": ("sse4_2",), "sse4a": ("sse4a",), "popcnt": ("popcnt",),
    "lzcnt": ("abm",), "bmi": ("bmi1",), "bmi2": ("bmi2",), "movbe": ("movbe",),
    "adx": ("adx",), "tbm": ("tbm",), "avx": ("avx",), "avx2": ("avx2",), "fma": ("fma",),
    "fma4": ("fma4",), "xop": ("xop",), "f16c": ("f16c",), "pclmul": ("pclmulqdq",),
    "aes": ("aes",), "sha": ("sha_ni",), "gfni": ("gfni",), "vaes": ("vaes",),
    "vpclmulqdq": ("vpclmulqdq",), "avx512f": ("avx512f",), "avx512cd": ("avx512cd",),
    "avx512dq": ("avx512dq",), "avx512bw": ("avx512bw",), "avx512vl": ("avx512vl",),
    "avx512ifma": ("avx512ifma",), "avx512vbmi": ("avx512vbmi",),
    "avx512vbmi2": ("avx512_vbmi2",), "avx512vnni": ("avx512_vnni",),
    "avx512bitalg": ("avx512_bitalg",), "avx512vpopcntdq": ("avx512_vpopcntdq",),
    "avx512bf16": ("avx512_bf16",), "avx512fp16": ("avx512_fp16",),
    "avx512vp2intersect": ("avx512_vp2intersect",), "avx10.1": _AVX10_1,
    "avx10.1-512": _AVX10_1, "avx10.1-256": _AVX10_1, "avxvnni": ("avx_vnni",),
    "avxifma": ("avx_ifma",), "amx-tile": ("amx_tile",), "amx-int8": ("amx_int8",),
    "amx-bf16": ("amx_bf16",), "amx-fp16": ("amx_fp16",),
    "egpr": _APX, "ndd": _APX, "ppx": _APX, "push2pop2": _APX, "ccmp": _APX, "nf": _APX,
    "cf": _APX, "zu": _APX,
}
IGNORED = frozenset({
    "cldemote", "clflushopt", "clwb", "clzero", "cmpccxadd", "enqcmd", "evex512", "fsgsbase",
    "hreset", "invpcid", "jmpabs", "kl", "lwp", "movdir64b", "movdiri", "movrs", "mwaitx",
    "pconfig", "pku", "prefetchi", "prfchw", "ptwrite", "raoint", "rdpid", "rdpru", "rdrnd",
    "rdseed", "rtm", "serialize", "sgx", "sha512", "shstk", "sm3", "sm4", "tsxldtrk", "uintr",
    "usermsr", "waitpkg", "wbnoinvd", "widekl", "xsave", "xsavec", "xsaveopt", "xsaves",
})
UNLISTED = frozenset({"avxvnniint8", "avxvnniint16", "avxneconvert", "amx-complex"})


def targets(data: bytes) -> list[tuple[str, str, frozenset]]:
    """(architecture, LLVM CPU name, enabled features) of every llvm-cpu executable in data."""
    found = []
    for match in _TARGET.finditer(data):
        arch = _ARCH.get(match[1].decode("ascii"), match[1].decode("ascii"))
        enabled: dict[str, bool] = {}
        for item in match[3].decode("ascii", "replace").split(","):
            if item[:1] in "+-" and item[1:]:
                enabled[item[1:]] = item[0] == "+"  # LLVM: the last mention wins
        found.append((arch, match[2].decode("ascii", "replace"),
                      frozenset(f for f, on in enabled.items() if on)))
    return found


@functools.cache
def host_flags() -> frozenset | None:
    """This CPU's flags from /proc/cpuinfo ('avx2', 'avx512f', ...), or None where unreadable."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return None


def missing_features(features, flags) -> tuple[list[str], list[str]]:
    """(features this CPU lacks, features unknown to this runtime) of x86 LLVM features."""
    missing, unknown = [], []
    for feature in sorted(features):
        if feature in IGNORED or feature in UNLISTED:
            continue
        if feature not in CHECKED:
            unknown.append(feature)
        elif not all(flag in flags for flag in CHECKED[feature]):
            missing.append(feature)
    return missing, unknown


def check(data: bytes, host_arch: str, source: str) -> None:
    """ArtifactError when data's machine code for this architecture needs features this CPU
    lacks (or that this runtime cannot check), instead of SIGILL at the first call."""
    if host_arch != "x86_64":
        return
    flags = host_flags()
    if flags is None:
        return
    for arch, cpu, features in targets(data):
        if arch != host_arch:
            continue
        missing, unknown = missing_features(features, flags)
        fix = ("Recompile it for this machine with `aotc compile --target cpu`, or for any "
               "x86-64 from Haswell/Zen on with `--target x86_64` (or a lower --cpu)")
        if missing:
            raise ArtifactError(
                f"{source}: compiled for CPU '{cpu}' with features this CPU lacks: "
                f"{', '.join(missing)} (running it would crash with SIGILL). {fix}")
        if unknown:
            raise ArtifactError(
                f"{source}: compiled for CPU '{cpu}' with features this aotc_runtime cannot "
                f"check: {', '.join(unknown)} (running it could crash with SIGILL). {fix}, or "
                "update aotc-runtime")
