"""The sharding API (JAX's): meshes and partition specs, shard_map, pmap, and the collectives
over named mapped axes. Partitioning itself happens on StableHLO in aotc.passes.spmd."""

from aotc.frontend.core.mesh import (
    Device,
    Mesh,
    NamedSharding,
    P,
    PartitionSpec,
    ShardingError,
    device_count,
    devices,
)
from aotc.frontend.sharding.collectives import (
    all_gather,
    all_to_all,
    axis_index,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
)
from aotc.frontend.sharding.pmap import pmap
from aotc.frontend.sharding.shard_map import shard_map

__all__ = ["Device", "Mesh", "NamedSharding", "P", "PartitionSpec", "ShardingError",
           "all_gather", "all_to_all", "axis_index", "device_count", "devices", "pmax", "pmean",
           "pmap", "pmin", "ppermute", "psum", "psum_scatter", "shard_map"]
