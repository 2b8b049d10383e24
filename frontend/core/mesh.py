"""Device meshes and partition specs (JAX's `Mesh`, `PartitionSpec`, `NamedSharding`).

A mesh is an N-d grid of devices with a name per axis. Mesh position p (row-major over the mesh
axes, like `np.arange(N).reshape(mesh_shape)`) runs on artifact device p. A spec says, per
dimension of an array, which mesh axes split it; normalized it is one tuple of axis names per
dimension (empty: not split). The block of device p along dim i is the mixed-radix index of p's
coordinates over the axes of that dim (first axis major), of size dim / product(axis sizes).

Example:
    >>> mesh = Mesh((2, 2), ("data", "model"))
    >>> block_shape((8, 6), normalize_spec(P("data", None), 2, mesh, "x"), mesh)
    (4, 6)
"""

import math
import os
from dataclasses import dataclass

import numpy as np

from aotc.frontend.core.errors import TracingError

DEFAULT_DEVICE_COUNT = 8  # CPU devices are virtual (IREE local-task); like JAX's host count flag
DEVICE_COUNT_VARIABLE = "AOTC_DEVICE_COUNT"


class ShardingError(TracingError):
    """A mesh, a partition spec or a mapped computation does not fit its arguments."""


def device_count() -> int:
    """How many devices a mesh may use: $AOTC_DEVICE_COUNT, else 8 (IREE's local CPU devices
    are virtual; each mesh position becomes one `--iree-hal-target-device`)."""
    text = os.environ.get(DEVICE_COUNT_VARIABLE)
    if text is None:
        return DEFAULT_DEVICE_COUNT
    if not text.isdigit() or int(text) < 1:
        raise ShardingError(f"${DEVICE_COUNT_VARIABLE}={text!r} is not a positive integer")
    return int(text)


@dataclass(frozen=True)
class Device:
    """One artifact device, by index (`@d<id>` in the compiled program)."""

    id: int

    def __repr__(self) -> str:
        return f"Device({self.id})"


def devices() -> list[Device]:
    """The devices a mesh may use, 0 .. device_count() - 1 (like jax.devices())."""
    return [Device(i) for i in range(device_count())]


class PartitionSpec(tuple):
    """Per array dimension: None (not split), a mesh axis name, or a tuple of axis names
    (split over their product, first axis major). Trailing dims left out are not split.

    Example:
        >>> P("data", None), P(("x", "y")), P()
    """

    def __new__(cls, *entries):
        return super().__new__(cls, entries)

    def __repr__(self) -> str:
        return "PartitionSpec(" + ", ".join(repr(e) for e in self) + ")"


P = PartitionSpec


class Mesh:
    """A grid of devices with named axes, like jax.sharding.Mesh.

    devices_or_shape: a tuple of axis sizes (the first prod(shape) devices, row-major), or an
    array of `Device`s (e.g. `np.array(aotc.sharding.devices()[:4]).reshape(2, 2)`).

    Example:
        >>> mesh = aotc.sharding.Mesh((4,), ("data",))
    """

    def __init__(self, devices_or_shape, axis_names):
        axis_names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
        array = _device_array(devices_or_shape)
        if array.ndim != len(axis_names):
            raise ShardingError(f"Mesh: {len(axis_names)} axis names {axis_names} for a device "
                                f"grid of shape {array.shape}; give one name per axis")
        if len(set(axis_names)) != len(axis_names) or not all(
                isinstance(a, str) for a in axis_names):
            raise ShardingError(f"Mesh: axis names {axis_names} must be distinct strings")
        available = device_count()
        if array.size > available:
            raise ShardingError(
                f"Mesh of shape {array.shape} needs {array.size} devices, but only {available} "
                f"are available; use a smaller mesh or set ${DEVICE_COUNT_VARIABLE}")
        ids = [d.id for d in array.ravel()]
        if len(set(ids)) != len(ids) or max(ids) >= available:
            raise ShardingError(f"Mesh: devices {ids} must be distinct, each below {available}")
        self.devices = array
        self.axis_names = axis_names

    @property
    def shape(self) -> dict[str, int]:
        """Axis name -> size, in mesh order."""
        return dict(zip(self.axis_names, self.devices.shape))

    @property
    def axis_sizes(self) -> tuple[int, ...]:
        return tuple(self.devices.shape)

    @property
    def size(self) -> int:
        return int(self.devices.size)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Mesh) and self.axis_names == other.axis_names
                and self.axis_sizes == other.axis_sizes)

    def __hash__(self) -> int:
        return hash((self.axis_names, self.axis_sizes))

    def __repr__(self) -> str:
        axes = ", ".join(f"'{a}': {n}" for a, n in self.shape.items())
        return f"Mesh({{{axes}}})"


def _device_array(devices_or_shape) -> np.ndarray:
    """An object array of Devices from a shape tuple or an array/list of Devices."""
    if isinstance(devices_or_shape, int):
        devices_or_shape = (devices_or_shape,)
    if isinstance(devices_or_shape, tuple) and all(
            isinstance(n, int) and not isinstance(n, bool) for n in devices_or_shape):
        if any(n < 1 for n in devices_or_shape):
            raise ShardingError(f"Mesh: axis sizes {devices_or_shape} must be positive")
        count = math.prod(devices_or_shape)
        array = np.empty(count, dtype=object)
        array[:] = [Device(i) for i in range(count)]
        return array.reshape(devices_or_shape)
    array = np.asarray(devices_or_shape, dtype=object)
    if array.size == 0 or not all(isinstance(d, Device) for d in array.ravel()):
        raise ShardingError("Mesh: give a tuple of axis sizes or an array of "
                            "aotc.sharding.devices()")
    return array


class NamedSharding:
    """A mesh and a partition spec: how one array is laid out over the mesh's devices."""

    def __init__(self, mesh: Mesh, spec: PartitionSpec):
        if not isinstance(mesh, Mesh):
            raise ShardingError(f"NamedSharding: expected a Mesh, got {type(mesh).__name__}")
        self.mesh = mesh
        self.spec = spec if isinstance(spec, PartitionSpec) else PartitionSpec(*spec)

    def __eq__(self, other) -> bool:
        return (isinstance(other, NamedSharding) and self.mesh == other.mesh
                and self.spec == other.spec)

    def __hash__(self) -> int:
        return hash((self.mesh, self.spec))

    def __repr__(self) -> str:
        return f"NamedSharding(mesh={self.mesh!r}, spec={self.spec!r})"


Spec = tuple[tuple[str, ...], ...]  # normalized: one tuple of mesh axis names per dim


def normalize_spec(spec, rank: int, mesh: Mesh, what: str) -> Spec:
    """One tuple of axis names per dim of a rank-`rank` array. `what` names the array in
    errors (e.g. "argument x of 'f'"): unknown axes, too many entries, an axis used twice."""
    if spec is None:
        spec = PartitionSpec()
    if not isinstance(spec, tuple):
        raise ShardingError(f"{what}: expected a PartitionSpec, got {type(spec).__name__} "
                            f"{spec!r}")
    if len(spec) > rank:
        raise ShardingError(f"{what}: spec {spec!r} has {len(spec)} entries for an array of "
                            f"rank {rank}")
    out = []
    for entry in tuple(spec) + (None,) * (rank - len(spec)):
        axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
        for axis in axes:
            if axis not in mesh.axis_names:
                raise ShardingError(
                    f"{what}: spec {spec!r} names mesh axis {axis!r}, but the mesh has axes "
                    f"{mesh.axis_names}; use one of them")
        out.append(axes)
    used = [a for axes in out for a in axes]
    if len(set(used)) != len(used):
        raise ShardingError(f"{what}: spec {spec!r} uses a mesh axis twice")
    return tuple(out)


def axes_size(axes, mesh: Mesh) -> int:
    """The number of blocks the axes split a dim into: the product of their sizes."""
    return math.prod(mesh.shape[a] for a in axes)


def block_shape(shape, spec: Spec, mesh: Mesh, what: str = "array") -> tuple[int, ...]:
    """The per-device block shape of a global `shape` split by the normalized `spec`."""
    out = []
    for i, (d, axes) in enumerate(zip(shape, spec)):
        n = axes_size(axes, mesh)
        if d is None and n > 1:
            raise ShardingError(f"{what}: dim {i} is dynamic; sharded programs need static "
                                "shapes")
        if d is not None and d % n:
            raise ShardingError(
                f"{what}: dim {i} of size {d} is not divisible by {n}, the size of mesh "
                f"axes {axes}; pad it to a multiple of {n} or shard another dim")
        out.append(d if d is None else d // n)
    return tuple(out)


def global_shape(block, spec: Spec, mesh: Mesh) -> tuple[int, ...]:
    """The global shape whose blocks under `spec` have shape `block`."""
    return tuple(d * axes_size(axes, mesh) for d, axes in zip(block, spec))


def coordinates(p: int, mesh: Mesh) -> dict[str, int]:
    """Mesh position p's coordinate along each axis (row-major)."""
    return dict(zip(mesh.axis_names, np.unravel_index(p, mesh.axis_sizes)))


def axis_position(p: int, axes, mesh: Mesh) -> int:
    """The mixed-radix index of p's coordinates over `axes` (first axis major)."""
    coords = coordinates(p, mesh)
    index = 0
    for a in axes:
        index = index * mesh.shape[a] + int(coords[a])
    return index


def block_index(p: int, spec: Spec, mesh: Mesh) -> tuple[int, ...]:
    """Which block of each dim mesh position p holds under the normalized `spec`."""
    return tuple(axis_position(p, axes, mesh) for axes in spec)


def devices_of(mesh: Mesh) -> list[int]:
    """The artifact devices of the mesh positions, in order: 0 .. mesh.size - 1."""
    return list(range(mesh.size))


def axis_groups(axes, mesh: Mesh) -> list[list[int]]:
    """The devices that a collective over `axes` joins: one group per combination of the other
    axes' coordinates, each group ordered by `axis_position` over `axes`."""
    groups: dict[tuple, list[int]] = {}
    others = [a for a in mesh.axis_names if a not in axes]
    for p in devices_of(mesh):
        coords = coordinates(p, mesh)
        groups.setdefault(tuple(int(coords[a]) for a in others), []).append(p)
    return [sorted(g, key=lambda p: axis_position(p, axes, mesh)) for g in groups.values()]


def replica_device(p: int, spec: Spec, mesh: Mesh) -> bool:
    """Whether p has coordinate 0 on every mesh axis the spec does not use: the device whose
    block an assembled (global) value reads."""
    used = {a for axes in spec for a in axes}
    coords = coordinates(p, mesh)
    return all(int(coords[a]) == 0 for a in mesh.axis_names if a not in used)
