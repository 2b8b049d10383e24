"""Devices: one shared IREE device per name, clear errors when a driver is missing here, and
reading results back to numpy on any driver (Vulkan included).

IREE's `DeviceArray.to_host()` imports a numpy buffer into the device when it cannot map the
result; Vulkan (Mesa lavapipe, most discrete GPUs) requires 4096-byte aligned host pointers
and sizes for that and fails. `to_numpy` copies through a staging buffer the device allocates
itself instead: one queue copy, a fence wait, a map, a numpy copy.

Fork: IREE's `local-task` devices run worker threads, which a child made by `os.fork()` (or a
multiprocessing fork pool) does not have. A call on an inherited device hangs, and so does
destroying one (it waits for the missing workers), even at the child's exit. So in the child
`_after_fork_in_child` keeps every inherited device alive for good, forgets the shared devices
(aotc's and iree.runtime's caches, and IREE's cached drivers, which own the workers) and counts
the fork: the next load or call opens fresh devices, and modules loaded before the fork make
a new context on them at their next call (see Module._invoke). The VM instance holds no
threads and stays.
"""

import ctypes
import os
import platform
import re
import threading

import iree.runtime as rt
import numpy as np
from iree.runtime import system_setup

from aotc_runtime.debug import SINK
from aotc_runtime.errors import ArtifactError

INSTANCE = rt.VmInstance()  # one VM instance per process; every module and context shares it
_CONFIGS: dict[str, rt.Config] = {}  # one device and HAL module per device name
_CONFIGS_LOCK = threading.Lock()
_forks = 0  # how many fork()s separate this process from the one that made the devices

# What a machine needs for each driver, for errors about artifacts that cannot run here.
DRIVER_NEEDS = {
    "local-task": "a CPU of the artifact's architecture",
    "local-sync": "a CPU of the artifact's architecture",
    "vulkan": "a Vulkan driver: on Debian/Ubuntu `apt-get install libvulkan1 "
              "mesa-vulkan-drivers` (Mesa lavapipe runs Vulkan on the CPU), or your GPU "
              "vendor's driver",
    "cuda": "an NVIDIA GPU (sm_80 or newer) with the NVIDIA driver, which provides libcuda.so",
    "hip": "an AMD GPU with the ROCm driver (libamdhip64.so)",
}


def host_arch() -> str:
    """This machine's CPU architecture, spelled like aotc's targets ('x86_64', 'aarch64')."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


class _SharedConfig(rt.Config):
    """rt.Config makes a new VmInstance per device; this one uses the process's instance."""

    def __init__(self, device: rt.HalDevice):
        self.device = device
        self.vm_instance = INSTANCE
        self.default_vm_modules = (rt.create_hal_module(INSTANCE, device, debug_sink=SINK),)


def config(device, target: str | None = None, source: str = "") -> rt.Config:
    """The shared Config of a device name ('local-task', 'vulkan', 'cuda://0') or a HalDevice.

    target, when given, is the artifact's target: a missing driver then raises ArtifactError
    naming it and what to install.
    """
    if isinstance(device, rt.HalDevice):
        try:
            return _SharedConfig(device)
        except Exception as exc:  # noqa: BLE001 (IREE's errors, as ArtifactError)
            raise ArtifactError(f"cannot use IREE device {device!r} ({exc})") from None
    if not isinstance(device, str):
        raise ArtifactError(f"device must be an IREE device name ('local-task', 'cuda://0') "
                            f"or an iree.runtime.HalDevice, not {type(device).__name__}")
    with _CONFIGS_LOCK:
        if device not in _CONFIGS:
            hal_device = _open(device, target, source)
            try:
                _CONFIGS[device] = _SharedConfig(hal_device)
            except Exception as exc:  # noqa: BLE001 (IREE's errors, as ArtifactError)
                raise ArtifactError(f"cannot use IREE device '{device}' "
                                    f"({failure_reason(exc)})") from None
        return _CONFIGS[device]


def _open(device: str, target: str | None, source: str) -> rt.HalDevice:
    driver = device.split(":")[0]
    available = rt.query_available_drivers()
    if driver not in available:
        raise ArtifactError(f"IREE driver '{driver}' is not in this aotc_runtime "
                            f"(available: {', '.join(sorted(available))})")
    try:
        return rt.get_device(device)
    except Exception as exc:  # noqa: BLE001 (IREE raises RuntimeError, ValueError, TypeError)
        reason = failure_reason(exc)
    needs = DRIVER_NEEDS.get(driver, f"a working '{driver}' device")
    if target is None:
        raise ArtifactError(f"cannot open IREE device '{device}' ({reason}); it needs {needs}")
    raise ArtifactError(f"{source}: compiled for target '{target}', which runs on IREE's "
                        f"'{driver}' driver, and that cannot start here ({reason}). It needs "
                        f"{needs}. Or recompile for this machine with `aotc compile --target "
                        "cpu`")


def failure_reason(exc: BaseException) -> str:
    """IREE's message without its source-file prefix: 'CUDA driver library ... not available'."""
    text = re.sub(r"\S+\.c:\d+: [A-Z_]+; ", "", " ".join(str(exc).split()))
    text = text.removeprefix("Error creating driver: ").split("; please")[0]
    return text.rstrip(";,. ") or type(exc).__name__


def check_arch(arch: str | None, target: str, source: str) -> None:
    """ArtifactError when an artifact's CPU code is for another architecture than this one."""
    if arch and arch != host_arch():
        raise ArtifactError(
            f"{source}: compiled for target '{target}' ({arch} CPUs), but this machine is "
            f"{host_arch()}. Run it on an {arch} device (`aotc bundle` writes a folder with "
            f"run.sh for iree-run-module), or recompile with `aotc compile --target cpu`")


def to_numpy(result) -> np.ndarray:
    """A numpy array that owns a copy of result (a DeviceArray or anything array-like)."""
    if isinstance(result, rt.DeviceArray) and not result._is_mappable():
        return _staged_copy(result)
    host = result.to_host() if hasattr(result, "to_host") else result
    return np.array(host, copy=True)  # own the memory: never hand out views of device buffers


def _staged_copy(result: rt.DeviceArray) -> np.ndarray:
    view = result._buffer_view
    device = result._device
    source = view.get_buffer()
    dtype = np.dtype(result._get_raw_dtype())  # a dtype object: a numpy class raises bad_cast
    shape = tuple(view.shape)
    if source.byte_length() == 0:
        return np.zeros(shape, dtype)
    staging = device.allocator.allocate_buffer(
        memory_type=int(rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE),
        allowed_usage=int(rt.BufferUsage.TRANSFER_TARGET | rt.BufferUsage.MAPPING_SCOPED),
        allocation_size=source.byte_length())
    semaphore = device.create_semaphore(0)
    device.queue_copy(source, staging, wait_semaphores=rt.HalFence.create_at(semaphore, 0),
                      signal_semaphores=rt.HalFence.create_at(semaphore, 1))
    rt.HalFence.create_at(semaphore, 1).wait()
    array = np.array(staging.map().asarray(shape, dtype), copy=True)
    override = result._override_dtype
    return array.astype(override) if override is not None and override != dtype else array


def release() -> None:
    """Forget the shared devices (at exit, after every context is gone)."""
    _CONFIGS.clear()


def fork_generation() -> int:
    """Changes in a child process after fork(): contexts made before then cannot run there."""
    return _forks


def keep_forever(*objects) -> None:
    """Never destroy objects, even at interpreter exit: their IREE destructors would wait for
    worker threads that a forked child does not have."""
    for obj in objects:
        if obj is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _after_fork_in_child() -> None:
    global _CONFIGS_LOCK, _forks
    _forks += 1
    _CONFIGS_LOCK = threading.Lock()  # another thread may have held it during the fork
    inherited = list(_CONFIGS.values())
    _CONFIGS.clear()
    cached = _iree_device_cache()
    keep_forever(*inherited, *(c.device for c in inherited), *cached.values())
    cached.clear()
    if hasattr(system_setup, "_LOCK"):
        system_setup._LOCK = threading.RLock()  # rt.get_device's lock, as _CONFIGS_LOCK
    clear_drivers = getattr(getattr(rt, "_binding", None), "clear_hal_driver_cache", None)
    if clear_drivers is not None:
        clear_drivers()  # the kept devices hold their drivers; new devices get new drivers


def _iree_device_cache() -> dict:
    """iree.runtime's process-wide cache of devices by name (rt.get_device)."""
    cache = getattr(system_setup, "_GLOBAL_DEVICES_BY_URI", None)
    return cache if isinstance(cache, dict) else {}


os.register_at_fork(after_in_child=_after_fork_in_child)
