"""Devices: one shared IREE device per name, clear errors when a driver is missing here, and
moving numpy arrays in and out of calls (Transfer) with at most one copy each, on any driver.

On the CPU drivers an aligned input is used in place and a large result comes back as a numpy
view of IREE's buffer; the view's base object keeps the buffer and its device alive, in that
order, so result arrays may outlive their module. On other drivers (Vulkan, CUDA) inputs are
copied to the device once and results read back once through a staging buffer the device
allocates itself: IREE's `DeviceArray.to_host()` imports a numpy buffer instead, which Vulkan
(Mesa lavapipe, most discrete GPUs) refuses unless pointer and size are 4096-byte aligned.

Fork: IREE's `local-task` devices run worker threads, which a child made by `os.fork()` (or a
multiprocessing fork pool) does not have. A call on an inherited device hangs, and so does
destroying one (it waits for the missing workers), even at the child's exit. So in the child
`_after_fork_in_child` keeps every inherited device alive for good, forgets the shared devices
(aotc's and iree.runtime's caches, and IREE's cached drivers, which own the workers) and counts
the fork: the next load or call opens fresh devices, and modules loaded before the fork make
a new context on them at their next call (see Module._invoke). The VM instance holds no
threads and stays.
"""

import contextlib
import ctypes
import os
import platform
import re
import threading

import iree.runtime as rt
import numpy as np
from iree.runtime import system_setup
from iree.runtime.dtypes import map_dtype_to_hal_element_type

from aotc_runtime import artifact
from aotc_runtime.debug import SINK
from aotc_runtime.errors import ArtifactError, InputError

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


class _MeshConfig(rt.Config):
    """Several devices in one HAL module: the compiled program's `@d<p>` is devices[p]."""

    def __init__(self, devices: list):
        self.device = devices[0]
        self.devices = list(devices)
        self.vm_instance = INSTANCE
        self.default_vm_modules = (rt.create_hal_module(INSTANCE, devices=self.devices,
                                                        debug_sink=SINK),)


def mesh_config(request, count: int, target: str | None = None, source: str = "") -> rt.Config:
    """The Config of a program on count devices (`config.devices`, in IREE's order d0, d1, ...).

    request is a driver name ('local-task', 'vulkan'; a URI's driver part counts): count new
    devices of it, shared by every module that asks for that driver and count (a driver with
    fewer physical devices than count gets several logical devices on them, round-robin), or a
    list of count device URIs / iree.runtime.HalDevices, opened or used in that order.
    """
    if isinstance(request, (list, tuple)):
        opened = [d if isinstance(d, rt.HalDevice) else _open_new(d, target, source)
                  for d in request]
        return _mesh_config(opened)
    driver = request.split(":")[0]
    key = f"{driver} x{count}"
    with _CONFIGS_LOCK:
        if key not in _CONFIGS:
            _CONFIGS[key] = _mesh_config(_open_many(driver, count, target, source))
        return _CONFIGS[key]


def _mesh_config(opened: list) -> rt.Config:
    try:
        return _MeshConfig(opened)
    except Exception as exc:  # noqa: BLE001 (IREE's errors, as ArtifactError)
        reason = failure_reason(exc)
    hint = ""
    if "frontier already assigned" in reason:  # Vulkan, in iree-base-runtime 3.13
        hint = ("; IREE's Python runtime puts each device it creates in a group of its own, "
                "and this driver's devices cannot join another group: run the artifact with "
                "iree-run-module and one --device flag per mesh device (`aotc bundle` writes "
                "them into run.sh), or compile it for the cpu target")
    raise ArtifactError(f"cannot use IREE devices {opened!r} together ({reason}){hint}")


def _open_many(driver: str, count: int, target: str | None, source: str) -> list:
    """count new devices of driver, round-robin over its physical devices."""
    hal_driver = _driver(driver, target, source)
    try:
        found = hal_driver.query_available_devices()
        if not found:
            raise RuntimeError(f"the {driver} driver finds no device")
        with _launcher_hidden():
            return [hal_driver.create_device(found[p % len(found)]) for p in range(count)]
    except Exception as exc:  # noqa: BLE001 (IREE raises RuntimeError, ValueError, TypeError)
        _unavailable(driver, failure_reason(exc), target, source)


def _open_new(uri, target: str | None, source: str) -> rt.HalDevice:
    """A new device for a URI ('local-task', 'cuda://1'), not the shared one of that name."""
    if not isinstance(uri, str):
        raise ArtifactError(f"devices= takes IREE device names ('local-task', 'cuda://0') or "
                            f"iree.runtime.HalDevices, not {type(uri).__name__}")
    hal_driver = _driver(uri.split(":")[0], target, source)
    try:
        with _launcher_hidden():
            return hal_driver.create_device_by_uri(uri)
    except Exception as exc:  # noqa: BLE001 (IREE raises RuntimeError, ValueError, TypeError)
        _unavailable(uri, failure_reason(exc), target, source)


# What makes IREE's device creation install its own MPI channel provider (it would call
# MPI_Init again, or fail to find libmpi, in a process started by mpiexec). aotc artifacts
# never use IREE's collectives: aotc_runtime.distributed does the MPI.
MPI_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPIEXEC_HOSTNAME")
_ENVIRONMENT_LOCK = threading.Lock()


@contextlib.contextmanager
def _launcher_hidden():
    """os.environ without the MPI launcher's variables while IREE creates a device, so any
    process started by mpiexec can load artifacts, before or after distributed.init()."""
    with _ENVIRONMENT_LOCK:
        saved = {name: os.environ.pop(name) for name in MPI_LAUNCHER_VARIABLES
                 if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(saved)


def _driver(driver: str, target: str | None, source: str):
    _require_driver(driver)
    try:
        return rt.get_driver(driver)
    except Exception as exc:  # noqa: BLE001 (IREE raises RuntimeError, ValueError, TypeError)
        _unavailable(driver, failure_reason(exc), target, source)


def _require_driver(driver: str) -> None:
    available = rt.query_available_drivers()
    if driver not in available:
        raise ArtifactError(f"IREE driver '{driver}' is not in this aotc_runtime "
                            f"(available: {', '.join(sorted(available))})")


# The CPU drivers' shared devices reuse freed buffers: IREE's default heap allocator gives every
# call fresh result and transient buffers and zero-fills each one (memset was 5% of a 1024^2
# matmul call; a 2 MB gather result cost 20% of the call). IREE's caching allocator keeps freed
# buffers for reuse, by default without limit (a process would keep its peak memory for good).
# This spec bounds it: a freed buffer is kept only while this device's other pooled buffers, in
# use and kept, total at most CACHE_CAPACITY bytes, and at most CACHE_BUFFERS are kept. Spec
# syntax: iree/hal/utils/caching_allocator.h (heap=max_size;max_capacity;max_free_count).
CACHE_CAPACITY = 256 << 20
CACHE_BUFFERS = 32
CACHING_ALLOCATOR = f"caching:device_local=*;{CACHE_CAPACITY};{CACHE_BUFFERS}"
_CACHED_DRIVERS = ("local-sync", "local-task")


def _open(device: str, target: str | None, source: str) -> rt.HalDevice:
    _require_driver(device.split(":")[0])
    try:
        with _launcher_hidden():
            if device in _CACHED_DRIVERS:
                return rt.get_driver(device).create_device_by_uri(
                    device, allocators=[CACHING_ALLOCATOR])
            return rt.get_device(device)
    except Exception as exc:  # noqa: BLE001 (IREE raises RuntimeError, ValueError, TypeError)
        _unavailable(device, failure_reason(exc), target, source)


def _unavailable(device: str, reason: str, target: str | None, source: str):
    """Raise the ArtifactError for a device that cannot open here: what it needs."""
    driver = device.split(":")[0]
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


# ---- moving arrays in and out of calls ----
# Host devices (IREE's local-sync and local-task CPU drivers) compute in host memory: a numpy
# input that is C-contiguous, native-endian, writable and aligned as the program's code assumes
# is imported as the IREE buffer itself, and a result comes back as a numpy view of the buffer
# IREE wrote. Everything else takes exactly one copy. Below ZERO_COPY_MIN_BYTES a copy costs
# less than the bookkeeping, so small arrays are always copied.
# By default IREE's CPU code assumes 64-byte aligned bindings and loads inputs with aligned
# 64-byte vector moves (`vmovaps zmm`), so an unaligned pointer must never reach it. aotc
# compiles its llvm-cpu programs for 16 (artifact.KEY_INPUT_ALIGNMENT): numpy's large arrays
# start 16 bytes past a 64-byte boundary (glibc malloc), and a 25 MB embedding table copied on
# every call cost 10x the gather itself. Copies made here are ALIGNMENT aligned.
ALIGNMENT = 64
MIN_INPUT_ALIGNMENT = 16  # the least alignment a program may declare (numpy's malloc's)
ZERO_COPY_MIN_BYTES = 1 << 16
_HOST_DRIVERS = ("local-sync", "local-task")
_IMPORT_TYPE = int(rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE)
_DEVICE_TYPE = int(rt.MemoryType.DEVICE_LOCAL)
_USAGE = int(rt.BufferUsage.DEFAULT)
_STAGING_TYPE = int(rt.MemoryType.HOST_LOCAL | rt.MemoryType.DEVICE_VISIBLE)
_STAGING_USAGE = int(rt.BufferUsage.TRANSFER_TARGET | rt.BufferUsage.MAPPING_SCOPED)
_READ_BACK_USAGE = int(rt.BufferUsage.TRANSFER_TARGET)
PAGE = 4096
_ELEMENT_TYPES: dict = {}  # numpy dtype -> HalElementType (None: IREE has no such type)
_DTYPES: dict = {}  # HalElementType -> numpy dtype

# How inputs and results moved, for tests and benchmarks: 'imported' (input used in place),
# 'copied' (input copied once), 'viewed' (result returned in place), 'read' (result copied
# once: small, aliased, or read back from a device that is not the host).
TRANSFERS = dict.fromkeys(("imported", "copied", "viewed", "read"), 0)


def _element_type(dtype: np.dtype):
    if dtype not in _ELEMENT_TYPES:
        _ELEMENT_TYPES[dtype] = map_dtype_to_hal_element_type(dtype)
    return _ELEMENT_TYPES[dtype]


def _dtype(element_type) -> np.dtype:
    if element_type not in _DTYPES:  # a dtype object: a numpy class raises std::bad_cast
        _DTYPES[element_type] = np.dtype(rt.HalElementType.map_to_dtype(element_type))
    return _DTYPES[element_type]


def input_alignment(reflections: dict) -> int:
    """The input alignment every function of an artifact declares (artifact.KEY_INPUT_ALIGNMENT,
    the largest over them), or ALIGNMENT if any declares none or a value that is not a power of
    two from MIN_INPUT_ALIGNMENT to ALIGNMENT."""
    declared = []
    for reflection in reflections.values():
        text = reflection.get(artifact.KEY_INPUT_ALIGNMENT, "")
        value = int(text) if text.isdigit() else 0
        if not MIN_INPUT_ALIGNMENT <= value <= ALIGNMENT or value & (value - 1):
            return ALIGNMENT
        declared.append(value)
    return max(declared, default=ALIGNMENT)


def aligned_empty(shape, dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-contiguous array whose data starts on an ALIGNMENT boundary."""
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


class _HostResult:
    """Owns a result buffer that a numpy array views: the mapping, the buffer view and the
    device, which must outlive the buffer (a buffer released after its local-task device is
    destroyed crashes the process). numpy keeps this object as the array's base."""

    __slots__ = ("__array_interface__", "_device", "_mapping", "_view")

    def __init__(self, interface: dict, mapping, view, device):
        self.__array_interface__ = interface
        self._mapping, self._view, self._device = mapping, view, device

    def __del__(self):  # the buffer goes first, the device last
        self._mapping = self._view = None


class Transfer:
    """Calls of one VM context on one device: numpy inputs -> buffer views -> numpy results,
    each array copied at most once (see ALIGNMENT above). One call at a time (Module holds a
    lock): the aligned copies of one call's large inputs are reused by the next call, whose
    copies then land in memory that is already mapped (a fresh 16 MiB buffer costs 4096 page
    faults, more than the copy)."""

    def __init__(self, device: rt.HalDevice, alignment: int = ALIGNMENT):
        self.device = device
        self.allocator = device.allocator
        self.host = repr(device).split(":")[0] in _HOST_DRIVERS
        self.alignment = alignment  # what the program's code assumes of an imported input
        self._spare: dict[int, list] = {}  # nbytes -> aligned copies the last call made

    def call(self, context: rt.VmContext, function, arrays, name: str) -> list:
        """Invoke function (its name for errors) on the flat input arrays; numpy results."""
        args = rt.VmVariantList(len(arrays))
        imported: list = []  # (start, end) of the host memory of imported inputs
        keep: list = []  # IREE's wrappers of imported inputs: they keep the memory alive
        staged: list = []  # aligned copies made for this call
        for array in arrays:
            args.push_ref(self.to_device(array, imported, keep, name, staged))
        results = rt.VmVariantList(1)
        context.invoke(function, args, results)
        outs = read_results(results, lambda i, view: self.to_numpy(view, imported))
        self.recycle(staged)
        return outs  # keep goes now: results that alias an imported input were copied

    def recycle(self, staged: list) -> None:
        """Keep a call's aligned copies for the next call (results inside them were copied)."""
        self._spare = {}
        for raw in staged:
            self._spare.setdefault(raw.nbytes, []).append(raw)

    def to_device(self, array: np.ndarray, imported: list, keep: list, name: str = "call",
                  staged: list | None = None):
        """array as a HalBufferView: the array's own memory, or one copy of it.

        An imported array lives only as long as the HalBuffer that import_host_allocation
        returns, not as long as IREE's buffer (iree-base-runtime 3.13: a HalBufferView made
        from it does not keep the array alive), so the caller keeps that HalBuffer (keep) until
        the call's results are read, and copies any result inside an imported range."""
        dtype = array.dtype if array.dtype.isnative else array.dtype.newbyteorder("=")
        element_type = _element_type(dtype)
        if element_type is None:
            raise InputError(f"{name}(): an input has a dtype IREE cannot take ({array.dtype}); "
                             "convert it with .astype(np.float32) or another numeric dtype")
        dense = array.flags.c_contiguous and dtype is array.dtype
        if not self.host:
            source = array if dense else np.ascontiguousarray(array, dtype)
            TRANSFERS["copied"] += 1
            return self.allocator.allocate_buffer_copy(
                memory_type=_DEVICE_TYPE, allowed_usage=_USAGE, device=self.device,
                buffer=source, element_type=element_type)
        if dense and array.nbytes < ZERO_COPY_MIN_BYTES:
            TRANSFERS["copied"] += 1
            return self.allocator.allocate_buffer_copy(
                memory_type=_IMPORT_TYPE, allowed_usage=_USAGE, device=self.device,
                buffer=array, element_type=element_type)
        start = array.ctypes.data if dense else -1
        if dense and start % self.alignment == 0 and array.flags.writeable:
            TRANSFERS["imported"] += 1
            source = array
        else:
            TRANSFERS["copied"] += 1
            source = self._aligned_copy(array, dtype, staged)
            start = source.ctypes.data
        imported.append((start, start + array.nbytes))
        buffer = self.allocator.import_host_allocation(source, memory_type=_IMPORT_TYPE,
                                                       allowed_usage=_USAGE)
        keep.append(buffer)
        return rt.HalBufferView(buffer, array.shape, element_type)

    def _aligned_copy(self, array: np.ndarray, dtype: np.dtype, staged: list | None):
        """array copied into ALIGNMENT-aligned memory, reusing a spare buffer of its size."""
        nbytes = array.size * dtype.itemsize + ALIGNMENT
        spares = self._spare.get(nbytes)
        raw = spares.pop() if spares else np.empty(nbytes, np.uint8)
        if staged is not None:
            staged.append(raw)
        start = -raw.ctypes.data % ALIGNMENT
        out = raw[start:start + nbytes - ALIGNMENT].view(dtype).reshape(array.shape)
        np.copyto(out, array)
        return out

    def to_numpy(self, view, imported: list) -> np.ndarray:
        """A result buffer view as a numpy array that is the caller's alone."""
        dtype = _dtype(view.element_type)
        shape = tuple(view.shape)
        nbytes = view.byte_length
        if nbytes == 0:
            return np.zeros(shape, dtype)
        if not self.host:
            return self._read_back(view, shape, dtype)
        mapping = view.map()
        array = mapping.asarray(shape, dtype)
        if nbytes < ZERO_COPY_MIN_BYTES:
            TRANSFERS["read"] += 1
            return array.copy()
        start = array.ctypes.data
        end = start + nbytes
        if any(start < e and s < end for s, e in imported):
            TRANSFERS["read"] += 1  # IREE returned (part of) an input: it is not ours to hand out
            return array.copy()
        imported.append((start, end))  # a later result aliasing this one gets a copy
        TRANSFERS["viewed"] += 1
        return np.asarray(_HostResult(array.__array_interface__, mapping, view, self.device))

    def _read_back(self, view, shape: tuple, dtype: np.dtype) -> np.ndarray:
        """A result in device memory, copied once by the device into numpy memory (Vulkan,
        CUDA): a page-aligned numpy buffer padded to whole pages, imported as the copy's
        target, since Vulkan (lavapipe) imports host memory only at 4096-byte aligned pointers
        and sizes (IREE's `DeviceArray.to_host()` imports the bare array and fails there).
        Devices that import no host memory get a staging buffer and one more copy."""
        source = view.get_buffer()
        nbytes = source.byte_length()
        padded = -(-nbytes // PAGE) * PAGE
        raw = np.empty(padded + PAGE, np.uint8)
        start = -raw.ctypes.data % PAGE
        host = raw[start:start + padded]
        TRANSFERS["read"] += 1
        try:
            target = self.allocator.import_host_allocation(host, memory_type=_STAGING_TYPE,
                                                           allowed_usage=_READ_BACK_USAGE)
        except (RuntimeError, ValueError):
            target = self.allocator.allocate_buffer(memory_type=_STAGING_TYPE,
                                                    allowed_usage=_STAGING_USAGE,
                                                    allocation_size=nbytes)
            self._device_copy(source, target)
            return np.array(target.map().asarray(shape, dtype))
        self._device_copy(source, target)
        return host[:nbytes].view(dtype).reshape(shape)

    def _device_copy(self, source, target) -> None:
        semaphore = self.device.create_semaphore(0)
        self.device.queue_copy(source, target,
                               wait_semaphores=rt.HalFence.create_at(semaphore, 0),
                               signal_semaphores=rt.HalFence.create_at(semaphore, 1))
        rt.HalFence.create_at(semaphore, 1).wait()


def read_results(results: rt.VmVariantList, to_numpy) -> list:
    """A call's results: each buffer view as to_numpy(index, view) makes it, other values
    (scalars) as they are."""
    outs = []
    for i in range(len(results)):
        value = results.get_variant(i)
        if isinstance(value, rt.VmRef):
            view = value.deref(rt.HalBufferView, True)
            if view is not None:
                value = to_numpy(i, view)
        outs.append(value)
    return outs


class MeshTransfer:
    """Calls of one VM context on several devices (a program compiled for a mesh): each input
    goes to the device its compiled argument lives on (`iree.abi.affinity` in the function's
    `iree.abi.declaration`) and each result is read from its device, with Transfer's rules per
    array."""

    def __init__(self, devices: list):
        self.transfers = [Transfer(d) for d in devices]
        self.device = devices[0]
        self._placements: dict = {}  # function name -> (argument devices, result devices)

    def call(self, context: rt.VmContext, function, arrays, name: str) -> list:
        """Invoke function (its name for errors) on the flat input arrays; numpy results."""
        if name not in self._placements:
            self._placements[name] = declared_devices(function.reflection)
        args_on, results_on = self._placements[name]
        args = rt.VmVariantList(len(arrays))
        imported: list = []  # every device's imported host ranges: results must not alias them
        keep: list = []
        staged: list[list] = [[] for _ in self.transfers]
        for i, array in enumerate(arrays):
            p = args_on[i] if i < len(args_on) else 0
            args.push_ref(self.transfers[p].to_device(array, imported, keep, name, staged[p]))
        results = rt.VmVariantList(1)
        context.invoke(function, args, results)
        outs = read_results(results, lambda i, view: self.transfers[
            results_on[i] if i < len(results_on) else 0].to_numpy(view, imported))
        for transfer, copies in zip(self.transfers, staged):
            transfer.recycle(copies)
        return outs


_VALUE = re.compile(r"%(input|output)\d+:")
_PROMISE = re.compile(r"#hal\.device\.promise<@d(\d+)>")


def declared_devices(reflection: dict) -> tuple[list[int], list[int]]:
    """The device index of every argument and result of a compiled function, read from its
    `iree.abi.declaration` (`%input1: tensor<4xf32> {iree.abi.affinity =
    #hal.device.promise<@d1>}`); a value without an affinity is on device 0."""
    text = reflection.get("iree.abi.declaration", "")
    marks = list(_VALUE.finditer(text))
    placed: dict[str, list[int]] = {"input": [], "output": []}
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        device = _PROMISE.search(text, mark.end(), end)
        placed[mark.group(1)].append(int(device.group(1)) if device else 0)
    return placed["input"], placed["output"]


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
