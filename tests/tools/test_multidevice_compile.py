"""Lowering multi-device programs to IREE (aotc.tools.compile): @aotc.transfer custom_calls and
aotc.device markers become flow.tensor.transfer ops, iree.abi.affinity attributes and one
--iree-hal-target-device flag per device; the programs run on 2, 4 and 8 CPU devices (IREE's
own runtime, checked against numpy), on 2 Vulkan devices (lavapipe, through iree-run-module)
and compile for 2 CUDA devices."""

import re

import iree.runtime as rt
import numpy as np
import pytest

import aotc_runtime
from aotc.frontend.core.errors import CompileError
from aotc.tools import cache
from aotc.tools.compile import _lower_devices_text, compile_stablehlo
from aotc.tools.gpu_check import data_parallel_reference, data_parallel_text, mesh_check
from aotc.tools.targets import TARGETS, flags, mesh_device_flags, runs_here
from aotc_runtime.devices import declared_devices
from aotc_runtime.module import ArtifactInfo

TWO_DEVICES = """module @m {
  func.func public @main(%a: tensor<4xf32>, %b: tensor<4xf32> {aotc.device = 1 : i64})
      -> (tensor<4xf32>, tensor<4xf32> {aotc.device = 1 : i64}) {
    %b2 = stablehlo.multiply %b, %b : tensor<4xf32>
    %bt = stablehlo.custom_call @aotc.transfer(%b2) {backend_config = "1->0"}
        : (tensor<4xf32>) -> tensor<4xf32> loc("model.py":7:3)
    %s = stablehlo.add %a, %bt : tensor<4xf32>
    %s1 = stablehlo.custom_call @aotc.transfer(%s) {backend_config = "0->1"}
        : (tensor<4xf32>) -> tensor<4xf32>
    return %s, %s1 : tensor<4xf32>, tensor<4xf32>
  }
}
"""


@pytest.fixture(scope="module")
def cpu_programs():
    """n -> data_parallel_text(n) compiled for the cpu target (once per module)."""
    compiled = {}

    def get(n):
        if n not in compiled:
            compiled[n] = compile_stablehlo(data_parallel_text(n), "cpu")
        return compiled[n]

    return get


def test_lowering_places_arguments_results_and_transfers():
    text, devices = _lower_devices_text(TWO_DEVICES, "cpu")
    assert devices == 2
    assert "aotc.transfer" not in text and "aotc.device " not in text
    transfers = re.findall(r"flow\.tensor\.transfer %\w+ : tensor<4xf32> to "
                           r"#hal\.device\.promise<@d(\d)> loc\((#loc\d+)\)", text)
    assert [d for d, _ in transfers] == ["0", "1"]
    first_location = re.search(rf"^{transfers[0][1]} = loc\((.*)\)$", text, re.M).group(1)
    assert first_location == '"model.py":7:3'  # the user's line survives the rewrite
    signature = next(ln for ln in text.splitlines() if "func.func public @main" in ln)
    affinities = re.findall(r"iree\.abi\.affinity = #hal\.device\.promise<@d(\d)>", signature)
    assert affinities == ["0", "1", "0", "1"]  # %a and the first result were unmarked
    assert 'iree.reflection = {aotc.devices = "2"}' in signature


@pytest.mark.parametrize("target", ["cpu", "vmvx", "vulkan", "cuda"])
def test_mesh_device_flags_name_one_device_per_mesh_position(target):
    preset = flags(target)
    named = mesh_device_flags(preset, 3)
    device = next(f for f in preset if f.startswith("--iree-hal-target-device="))
    kind = device.split("=", 1)[1]
    assert [f for f in named if f.startswith("--iree-hal-target-device=")] == [
        f"--iree-hal-target-device=d{p}={kind}[{p}]" for p in range(3)]
    assert [f for f in named if "=d" not in f] == [f for f in preset if f != device]
    assert mesh_device_flags(preset, 1) == preset


def test_mesh_device_flags_keep_named_devices_and_refuse_ambiguous_ones():
    named = ["--iree-hal-target-device=d0=local[0]", "--iree-hal-target-device=d1=local[1]"]
    assert mesh_device_flags(named, 2) == named
    with pytest.raises(CompileError, match="exactly one --iree-hal-target-device=<device>"):
        mesh_device_flags(["--iree-hal-target-device=local",
                           "--iree-hal-target-device=vulkan"], 2)
    with pytest.raises(CompileError, match=r"found none"):
        mesh_device_flags(["--iree-hal-target-backends=llvm-cpu"], 2)


def test_a_program_on_device_zero_only_drops_the_markers():
    text = TWO_DEVICES.replace("aotc.device = 1", "aotc.device = 0").replace(
        '"1->0"', '"0->0"').replace('"0->1"', '"0->0"')
    lowered, devices = _lower_devices_text(text, "cpu")
    assert devices == 1
    assert "aotc." not in lowered and "flow." not in lowered and "affinity" not in lowered
    module = aotc_runtime.load_bytes(compile_stablehlo(text, "cpu"), require_aotc=False)
    assert module.device_count == 1
    a, b = np.arange(4, dtype=np.float32), np.full(4, 3, np.float32)
    for out in module["main"](a, b):
        np.testing.assert_array_equal(out, a + b * b)


def test_plain_programs_are_not_parsed():
    text = "this is not MLIR, and has no device markers"
    assert _lower_devices_text(text, "cpu") == (text, 1)


def test_dynamic_shapes_on_several_devices_are_a_compile_error():
    dynamic = TWO_DEVICES.replace("tensor<4xf32>", "tensor<?xf32>")
    with pytest.raises(CompileError, match=r"model\.py:7: a transfer from device 1 to 0 moves "
                       r"tensor<\?xf32>, which has a dynamic shape; programs on several devices "
                       r"\(2 here, target 'cpu'\) need static shapes"):
        compile_stablehlo(dynamic, "cpu")
    arg_only = TWO_DEVICES.replace("%a: tensor<4xf32>", "%a: tensor<?xf32>").replace(
        "%s = stablehlo.add %a, %bt", "%ac = tensor.cast %a : tensor<?xf32> to tensor<4xf32>\n"
        "    %s = stablehlo.add %ac, %bt")
    with pytest.raises(CompileError, match=r"argument 0 of @main is tensor<\?xf32>, a dynamic "
                       "shape"):
        compile_stablehlo(arg_only, "cpu")


def test_malformed_transfer_is_a_compile_error():
    bad = TWO_DEVICES.replace('"1->0"', '"device one to zero"')
    with pytest.raises(CompileError, match=r"model\.py:7: malformed aotc\.transfer "
                       r"\(backend_config 'device one to zero'"):
        compile_stablehlo(bad, "cpu")


def test_cache_key_holds_the_device_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AOTC_CACHE", "1")
    keyed = []
    real_key = cache.key

    def recording_key(text, flag_list, *rest):
        keyed.append((text, list(flag_list)))
        return real_key(text, flag_list, *rest)

    monkeypatch.setattr(cache, "key", recording_key)
    first = compile_stablehlo(TWO_DEVICES, "cpu")
    assert compile_stablehlo(TWO_DEVICES, "cpu") == first  # the second one is a cache hit
    (text, flag_list), _ = keyed
    assert "--iree-hal-target-device=d1=local[1]" in flag_list
    assert "--iree-hal-target-device=local" not in flag_list
    assert "flow.tensor.transfer" in text
    assert len(list(tmp_path.glob("*.vmfb"))) == 1


@pytest.mark.parametrize("n", [2, 4, 8])
def test_cpu_mesh_runs_on_n_local_devices(cpu_programs, n):
    """IREE's runtime, not aotc's: n local-task devices, each argument a device array on the
    device its affinity names, results against numpy."""
    vmfb = cpu_programs(n)
    info = ArtifactInfo(vmfb, require_aotc=False)
    assert info.device_count == n
    args_on, results_on = declared_devices(info._vm_module.lookup_function("main").reflection)
    assert args_on == [*range(n), 0] and results_on == [*range(n), 0]
    instance = rt.VmInstance()
    driver = rt.get_driver("local-task")
    devices = [driver.create_default_device() for _ in range(n)]
    module = rt.VmModule.copy_buffer(instance, vmfb)
    context = rt.VmContext(instance, modules=[rt.create_hal_module(instance, devices=devices),
                                              module])
    invoke = rt.FunctionInvoker(context, devices[0], module.lookup_function("main"))
    rng = np.random.default_rng(n)
    xs = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(n)]
    w = rng.standard_normal(3).astype(np.float32)
    outs = invoke(*[rt.asdevicearray(devices[p], x) for p, x in enumerate(xs)],
                  rt.asdevicearray(devices[0], w))
    got = [np.array(o.to_host()) for o in outs]
    del outs, invoke, context  # device arrays go before their devices
    for g, want in zip(got, data_parallel_reference(xs, w), strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6)


def test_aotc_runtime_places_flat_arguments_by_their_affinity(cpu_programs):
    """A plain IREE module on 4 devices (what aotc.jit compiles): flat calls, each argument
    sent to the device its iree.abi.affinity names."""
    module = aotc_runtime.load_bytes(cpu_programs(4), require_aotc=False)
    assert module.device_count == 4 and len(module.devices) == 4
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(4)]
    w = rng.standard_normal(3).astype(np.float32)
    for got, want in zip(module["main"](*xs, w), data_parallel_reference(xs, w), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _vulkan_runs_here() -> None:
    status, detail = runs_here(TARGETS["vulkan"])
    if status != "yes":
        pytest.skip(f"no vulkan device here: {detail}")


def test_vulkan_mesh_of_two_runs_through_iree_run_module(tmp_path):
    _vulkan_runs_here()
    how, ok = mesh_check("vulkan", 2, str(tmp_path))
    assert (how, ok) == ("iree-run-module", True)


def test_vulkan_mesh_in_python_says_why_and_what_to_do():
    _vulkan_runs_here()
    vmfb = compile_stablehlo(data_parallel_text(2), "vulkan")
    with pytest.raises(aotc_runtime.ArtifactError, match=r"cannot use IREE devices \[vulkan, "
                       r"vulkan\] together .*run the artifact with iree-run-module and one "
                       r"--device flag per mesh device"):
        aotc_runtime.load_bytes(vmfb, "vulkan", require_aotc=False)


def test_cuda_mesh_of_two_compiles():
    vmfb = compile_stablehlo(data_parallel_text(2), "cuda")
    info = ArtifactInfo(vmfb, require_aotc=False)
    assert info.device_count == 2
    assert b"cuda-nvptx-fb" in vmfb
    for p in range(2):
        assert f'#hal.device.target<"cuda", {{ordinal = {p} : index}}'.encode() in vmfb
