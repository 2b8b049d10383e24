"""The CPU devices' bounded caching allocator (aotc_runtime.devices.CACHING_ALLOCATOR): freed
buffers are reused, which saves IREE's zero-fill of every fresh result and transient buffer,
and the memory kept for reuse stays within CACHE_CAPACITY bytes and CACHE_BUFFERS buffers.

A buffer that comes back from the pool still holds what was written into it; a fresh one from
IREE's heap allocator is zeroed. So counting the buffers that keep a marker after being freed
and allocated again counts the ones the device kept."""

import iree.runtime as rt
import numpy as np
import pytest

import aotc
import aotc.numpy as anp
from aotc_runtime import devices

MEMORY = int(rt.MemoryType.DEVICE_LOCAL | rt.MemoryType.HOST_VISIBLE)
USAGE = int(rt.BufferUsage.DEFAULT | rt.BufferUsage.MAPPING)
MARK = np.float32(7)
PAGE = 4096


def kept(device: rt.HalDevice, sizes: list) -> list:
    """The sizes of the buffers device keeps for reuse, of len(sizes) buffers (distinct sizes)
    allocated together, each marked, and freed: allocated again, they come back marked."""
    allocator = device.allocator
    allocator.trim()  # from an empty pool: other tests share the device
    buffers = [allocator.allocate_buffer(memory_type=MEMORY, allowed_usage=USAGE,
                                         allocation_size=size) for size in sizes]
    for buffer in buffers:
        buffer.map().asarray((1,), np.dtype(np.float32))[0] = MARK
    del buffer
    buffers.clear()
    again = [allocator.allocate_buffer(memory_type=MEMORY, allowed_usage=USAGE,
                                       allocation_size=size) for size in sizes]
    return [size for size, b in zip(sizes, again)
            if b.map().asarray((1,), np.dtype(np.float32))[0] == MARK]


def distinct_sizes(size: int, count: int) -> list:
    return [size + PAGE * k for k in range(count)]


@pytest.mark.parametrize("driver", devices._CACHED_DRIVERS)
def test_cpu_devices_reuse_freed_buffers(driver):
    sizes = distinct_sizes(1 << 20, 4)
    assert kept(devices.config(driver).device, sizes) == sizes


def test_a_plain_device_reuses_nothing():
    # the check of the tests above can fail: IREE's own allocator zeroes every buffer
    plain = rt.get_driver("local-sync").create_device_by_uri("local-sync")
    assert kept(plain, distinct_sizes(1 << 20, 4)) == []


def test_memory_kept_for_reuse_is_bounded_in_bytes():
    big = 16 << 20
    sizes = distinct_sizes(big, devices.CACHE_CAPACITY // big + 8)
    assert len(sizes) < devices.CACHE_BUFFERS  # only the byte bound applies
    unbounded = rt.get_driver("local-sync").create_device_by_uri("local-sync",
                                                                 allocators=["caching"])
    assert kept(unbounded, sizes) == sizes  # IREE's default spec keeps them all
    # IREE pools a freed buffer while the others in use or kept total at most the capacity:
    # all kept but the last one freed fit in CACHE_CAPACITY bytes
    bounded = kept(devices.config("local-sync").device, sizes)
    assert bounded and sum(bounded) - max(bounded) <= devices.CACHE_CAPACITY
    assert sum(bounded) > devices.CACHE_CAPACITY - big  # and it keeps that much


def test_memory_kept_for_reuse_is_bounded_in_buffers():
    sizes = distinct_sizes(PAGE, devices.CACHE_BUFFERS + 16)
    assert len(kept(devices.config("local-sync").device, sizes)) == devices.CACHE_BUFFERS


def test_results_of_reused_buffers_are_right_and_independent():
    fn = aotc.jit(lambda t, ids: anp.take(t, ids, axis=0) * 2.0, device="local-sync")
    rng = np.random.default_rng(0)
    table = rng.standard_normal((1000, 128), dtype=np.float32)
    calls = [rng.integers(0, 1000, 4096).astype(np.int32) for _ in range(6)]
    results = []
    for ids in calls:
        results.append(fn(table, ids))
        fn(table, calls[0])  # a freed result buffer, reused by the next call
    for ids, got in zip(calls, results):
        np.testing.assert_array_equal(got, table[ids] * 2.0)
