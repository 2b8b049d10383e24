"""Code for CPU features this machine lacks is refused at load, not killed by SIGILL at the
first call: the features come from the target IREE records in the module (aotc_runtime.cpu)."""

import numpy as np
import pytest

import aotc
import aotc.numpy as anp
import aotc_runtime
from aotc_runtime import ArtifactError, cpu
from aotc_runtime.devices import host_arch

pytestmark = pytest.mark.skipif(host_arch() != "x86_64" or cpu.host_flags() is None,
                                reason="CPU features are checked on x86-64 Linux")

# /proc/cpuinfo flags of an x86-64-v3 machine (a Haswell/Zen 2 class CPU: AVX2, no AVX-512).
V3_FLAGS = frozenset(
    "fpu cmov cx8 cx16 mmx fxsr lahf_lm sse sse2 pni ssse3 sse4_1 sse4_2 popcnt abm bmi1 bmi2 "
    "movbe avx avx2 fma f16c xsave lm pclmulqdq aes".split())
# Features this runtime checks, that some x86-64 CPUs lack (one is added by --features).
LACKABLE = ("avx512vp2intersect", "avxifma", "amx-fp16", "sse4a", "fma4", "xop", "tbm")
_COMPILED: dict = {}


def tanh_for(**target) -> bytes:
    """A sealed artifact of tanh(x) * 2 compiled with target, e.g. cpu='sapphirerapids'."""
    key = tuple(sorted(target.items()))
    if key not in _COMPILED:
        _COMPILED[key] = aotc.compile(lambda x: anp.tanh(x) * 2.0, aotc.ShapeSpec((None, 4)),
                                      name="f", **target)
    return _COMPILED[key]


def call(m) -> np.ndarray:
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    out = m.f(x)
    np.testing.assert_allclose(out, np.tanh(x) * 2, rtol=1e-6)
    return out


def test_the_module_records_its_cpu_and_the_features_llvm_resolved():
    [(arch, name, features)] = cpu.targets(tanh_for(target="x86_64"))
    assert (arch, name) == ("x86_64", "x86-64-v3")
    assert {"avx2", "fma", "f16c", "bmi2"} <= features and "avx512f" not in features
    [(_, name, features)] = cpu.targets(tanh_for(target="x86_64", cpu="sapphirerapids"))
    assert name == "sapphirerapids" and {"avx512f", "avx512fp16", "amx-tile"} <= features
    [(_, _, features)] = cpu.targets(tanh_for(target="x86_64", features="+avx512fp16"))
    assert "avx512fp16" in features and "avx2" in features
    [(_, name, features)] = cpu.targets(tanh_for())  # target cpu: the host, resolved
    assert name not in ("host", "") and cpu.missing_features(features, cpu.host_flags()) == (
        [], [])


def test_code_for_a_newer_cpu_is_refused_on_an_older_one(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu, "host_flags", lambda: V3_FLAGS)
    path = tmp_path / "spr.vmfb"
    path.write_bytes(tanh_for(target="x86_64", cpu="sapphirerapids"))
    for load in (lambda: aotc_runtime.load(path), lambda: aotc_runtime.load_bytes(
            path.read_bytes()), lambda: aotc_runtime.load(path, device="local-sync")):
        with pytest.raises(ArtifactError) as err:
            load()
        message = str(err.value)
        for words in ("compiled for CPU 'sapphirerapids'", "avx512f,", "avx512fp16", "SIGILL",
                      "--target cpu", "--target x86_64"):
            assert words in message, (words, message)
    with pytest.raises(ArtifactError, match=r"features this CPU lacks: avx512fp16 \("):
        aotc_runtime.load_bytes(tanh_for(target="x86_64", features="+avx512fp16"))
    call(aotc_runtime.load_bytes(tanh_for(target="x86_64")))  # portable x86-64-v3 still runs


def test_a_feature_this_very_cpu_lacks_is_refused():
    flags = cpu.host_flags()
    lacking = next((f for f in LACKABLE if not set(cpu.CHECKED[f]) <= flags), None)
    if lacking is None:
        pytest.skip(f"this CPU has every one of {LACKABLE}")
    vmfb = tanh_for(target="x86_64", features=f"+{lacking}")
    with pytest.raises(ArtifactError, match=f"features this CPU lacks: {lacking} "):
        aotc_runtime.load_bytes(vmfb)


def test_unknown_features_are_refused_and_system_features_ignored():
    flags = V3_FLAGS
    assert cpu.missing_features({"avx2", "sgx", "rdrnd", "avx512f", "avx99"}, flags) == (
        ["avx512f"], ["avx99"])
    future = (b'vm.fail "#hal.executable.target<"llvm-cpu", "embedded-elf-x86_64", '
              b'{cpu = "future", cpu_features = "+sse2,+avx99,-avx512f"')
    assert cpu.targets(future) == [("x86_64", "future", frozenset({"sse2", "avx99"}))]
    with pytest.raises(ArtifactError, match=r"cannot check: avx99 .*update aotc-runtime"):
        cpu.check(future, "x86_64", "future.vmfb")
    arm = future.replace(b"x86_64", b"arm_64")
    cpu.check(arm, "x86_64", "arm.vmfb")  # another architecture: the arch check's business
    cpu.check(arm.replace(b"avx99", b"sve2"), "aarch64", "arm.vmfb")  # x86 flags only


def test_llvm_resolves_later_mentions_over_earlier_ones():
    data = (b'#hal.executable.target<"llvm-cpu", "embedded-elf-x86_64", {cpu = "x", '
            b'cpu_features = "+pku,+avx2,-pku,-avx512f,+avx512f,-sse4a"')
    assert cpu.targets(data)[0][2] == {"avx2", "avx512f"}
