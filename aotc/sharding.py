"""aotc.sharding: meshes, partition specs and shardings (jax.sharding's names).

    mesh = aotc.sharding.Mesh((2, 4), ("data", "model"))
    f = aotc.shard_map(step, mesh=mesh, in_specs=(P(), P("data")), out_specs=P())
"""

from aotc.frontend.sharding import (
    Device,
    Mesh,
    NamedSharding,
    P,
    PartitionSpec,
    ShardingError,
    device_count,
    devices,
)

__all__ = ["Device", "Mesh", "NamedSharding", "P", "PartitionSpec", "ShardingError",
           "device_count", "devices"]
