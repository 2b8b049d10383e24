"""aotc.tools.vulkan_devices: the vulkan preset's devices are declared in the module with 8- and
16-bit storage (the text rewrite; tests/targets/test_vulkan.py runs its programs on lavapipe)."""

from aotc.frontend.core.ir import ir, new_context
from aotc.tools import vulkan_devices
from aotc.tools.compile import compile_stablehlo
from aotc.tools.gpu_check import data_parallel_text
from aotc.tools.targets import flags as target_flags
from aotc.tools.targets import mesh_device_flags

ONE = """func.func @main(%x: tensor<3xf32>) -> tensor<i1> {
  %c = stablehlo.constant dense<false> : tensor<i1>
  %z = stablehlo.constant dense<0.0> : tensor<3xf32>
  %p = stablehlo.compare GT, %x, %z, FLOAT : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %r = stablehlo.reduce(%p init: %c) applies stablehlo.or across dimensions = [0]
      : (tensor<3xi1>, tensor<i1>) -> tensor<i1>
  return %r : tensor<i1>
}"""


def _targets(text: str) -> str:
    with new_context():
        return str(ir.Module.parse(text).operation.attributes["hal.device.targets"])


def test_one_device_is_declared_with_narrow_storage_and_its_flag_dropped():
    text, flags = vulkan_devices.declare(ONE, target_flags("vulkan"))
    assert not any(f.startswith("--iree-hal-target-device") for f in flags)
    targets = _targets(text)
    assert targets.startswith('[#hal.device.target<"vulkan", [#hal.executable.target<')
    assert "storage = b32|b16|b8" in targets and "subgroup = none" in targets
    assert "ordinal" not in targets


def test_a_mesh_names_one_device_per_position():
    text, flags = vulkan_devices.declare(ONE, mesh_device_flags(target_flags("vulkan"), 3))
    assert not any(f.startswith("--iree-hal-target-device") for f in flags)
    targets = _targets(text)
    for p in range(3):
        assert f'd{p} = #hal.device.target<"vulkan", {{ordinal = {p} : index}}' in targets


def test_other_devices_and_a_vulkan_target_of_the_users_are_left_alone():
    for flags in (target_flags("cpu"), target_flags("vmvx"), target_flags("cuda"),
                  [*target_flags("vulkan"), "--iree-vulkan-target=rdna3"],
                  ["--iree-hal-target-device=vulkan", "--iree-hal-target-device=local"]):
        assert vulkan_devices.declare(ONE, flags) == (ONE, flags)


def test_declared_programs_compile_for_one_device_and_a_mesh():
    for text in (ONE, data_parallel_text(2)):
        assert b"vulkan-spirv-fb" in compile_stablehlo(text, "vulkan", use_cache=False)
