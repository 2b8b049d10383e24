"""aotc's Vulkan target: IREE's portable baseline with 8- and 16-bit storage, declared in the
program.

IREE 3.13's default Vulkan target (`vp_android_baseline_2022`) has 32-bit storage only, so its
shaders keep i1, i8, i16, f16 and bf16 tensors in 32-bit words. A buffer whose size is not a
multiple of 4 bytes ends in a word its binding covers only in part, and a shader's access to
that word is out of bounds: under robust buffer access (Mesa lavapipe) the write is dropped and
the read gives 0, and without it the access is undefined. Measured on lavapipe with the
baseline:
- `any(x > 0.5)` returned False for every x;
- int8[5] and bool[5] results lost their last element, and float16[3] two of its three;
- the rank-0 i1 condition of a while loop was lost, so gamma's rejection loop (a < 1, beta)
  stopped on wrong values.
This is IREE issue #2022 ("we need an ABI pre-pass to widen these small buffers"), still open.

So aotc's `vulkan` preset keeps the baseline's limits (no subgroup operations, 128 threads per
workgroup, 16 KiB of workgroup memory) and adds 8- and 16-bit storage and arithmetic: Vulkan
1.2's storageBuffer8BitAccess, storageBuffer16BitAccess, shaderInt8, shaderInt16 and
shaderFloat16, which desktop GPUs, Arm Mali (Valhall and newer) and lavapipe have and IREE's
runtime enables when a device offers them. IREE takes no flag for a target of one's own, so
the devices are declared in the module's `hal.device.targets` attribute instead of by
`--iree-hal-target-device=vulkan`: a list of one device, or for a mesh a dictionary naming one
device per position (`d<p>`, ordinal p, the `#hal.device.promise<@d<p>>` of the program).
"""

import re

from aotc.frontend.core.ir import ir, new_context
from aotc.tools.targets import DEVICE_FLAG

__all__ = ["EXECUTABLE_TARGET", "declare"]

EXECUTABLE_TARGET = (
    '#hal.executable.target<"vulkan-spirv", "vulkan-spirv-fb", {iree_codegen.target_info = '
    '#iree_gpu.target<arch = "vp_android_baseline_2022", features = "spirv:v1.3,cap:Shader", '
    "wgp = <compute = fp32|fp16|int32|int16|int8, storage = b32|b16|b8, subgroup = none, "
    "subgroup_size_choices = [64], max_workgroup_sizes = [128, 128, 64], "
    "max_thread_count_per_workgroup = 128, max_workgroup_memory_bytes = 16384, "
    "max_workgroup_counts = [65535, 65535, 65535]>>}>")

_NAMED = re.compile(r"(d\d+)=vulkan\[(\d+)\]$")


def _device(ordinal: int | None) -> str:
    options = "" if ordinal is None else f"{{ordinal = {ordinal} : index}}, "
    return f'#hal.device.target<"vulkan", {options}[{EXECUTABLE_TARGET}]>'


def declare(text: str, flags: list[str]) -> tuple[str, list[str]]:
    """(text, flags) with flags' Vulkan devices (`--iree-hal-target-device=vulkan`, or the
    named `d<p>=vulkan[<p>]` of a mesh) declared in the module with EXECUTABLE_TARGET and
    dropped from flags. Unchanged when flags choose a Vulkan target of their own
    (`--iree-vulkan-target=`), name no Vulkan device, or mix it with other devices."""
    devices = [f for f in flags if f.startswith(DEVICE_FLAG)]
    kinds = [f[len(DEVICE_FLAG):] for f in devices]
    if not kinds or any(f.startswith("--iree-vulkan-target") for f in flags):
        return text, flags
    named = [_NAMED.match(kind) for kind in kinds]
    if kinds != ["vulkan"] and not all(named):
        return text, flags
    with new_context():
        module = ir.Module.parse(text)
        if kinds == ["vulkan"]:
            targets = ir.ArrayAttr.get([ir.Attribute.parse(_device(None))])
        else:
            targets = ir.DictAttr.get({m.group(1): ir.Attribute.parse(_device(int(m.group(2))))
                                       for m in named})
        module.operation.attributes["hal.device.targets"] = targets
        text = module.operation.get_asm(enable_debug_info=True)
    return text, [f for f in flags if f not in devices]
