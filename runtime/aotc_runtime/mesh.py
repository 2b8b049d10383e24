"""Meshes and shardings of an artifact's arrays: which block of a global array each device holds.

A sharded artifact runs on a mesh of N devices: mesh position p (row-major over the mesh axes,
like `np.arange(N).reshape(shape)`) is IREE device p (`@d<p>`). A sharded array's sharding has
one entry per dim, the tuple of mesh axes that split it (empty: not split along that dim). The
block of device p along dim i is the mixed-radix index of p's coordinates over the axes of
entry i (first axis major); the block size is the dim over the product of those axes' sizes.
Devices that differ only on axes the sharding does not name hold the same block (replicas).

This is the runtime's copy of the rule in aotc.frontend.core.mesh (the runtime imports nothing
of aotc): the compiler splits arguments into blocks by it, and the runtime splits numpy arrays
and assembles results by it.

    mesh = MeshSpec(("x", "y"), (2, 2))
    blocks = split(np.arange(16.0).reshape(4, 4), (("x",), ()), mesh)   # 4 blocks of (2, 4)
    assemble(blocks, (("x",), ()), (4, 4), mesh)                          # the global array
"""

import math
from dataclasses import dataclass

import numpy as np

from aotc_runtime.errors import ArtifactError

Sharding = tuple  # one tuple of mesh axis names per dim


@dataclass(frozen=True)
class MeshSpec:
    """The mesh of a sharded artifact: axis names and sizes. `size` devices run it."""

    axes: tuple
    shape: tuple

    @classmethod
    def from_json(cls, obj) -> "MeshSpec":
        """{"axes": ["x", "y"], "shape": [2, 2]}, checked (ArtifactError if malformed)."""
        try:
            axes, shape = tuple(obj["axes"]), tuple(obj["shape"])
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"malformed mesh {obj!r} in artifact metadata ({exc}); "
                                "recompile the model") from None
        if (len(axes) != len(shape) or not axes or len(set(axes)) != len(axes)
                or not all(isinstance(a, str) and a.isidentifier() for a in axes)
                or not all(type(n) is int and n >= 1 for n in shape)):
            raise ArtifactError(f"malformed mesh {obj!r} in artifact metadata (expected "
                                "distinct axis names and one size >= 1 each); recompile the "
                                "model")
        return cls(axes, shape)

    def to_json(self) -> dict:
        return {"axes": list(self.axes), "shape": list(self.shape)}

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def axis_size(self, axes) -> int:
        """The product of the sizes of axes (1 for none)."""
        return math.prod(self.shape[self.axes.index(a)] for a in axes)

    def coordinates(self, p: int) -> dict:
        """Device p's coordinate on each axis (row-major)."""
        return dict(zip(self.axes, (int(c) for c in np.unravel_index(p, self.shape))))

    def __str__(self) -> str:
        return "mesh(" + ", ".join(f"{a}={n}" for a, n in zip(self.axes, self.shape)) + ")"


def parse_sharding(obj, rank: int) -> Sharding:
    """A leaf's "sharding" JSON (one list of axis names per dim) as a tuple of tuples."""
    if not isinstance(obj, list) or len(obj) != rank or not all(
            isinstance(axes, list) and all(isinstance(a, str) for a in axes) for axes in obj):
        raise ArtifactError(f"malformed sharding {obj!r} in artifact metadata (expected one list "
                            f"of mesh axis names for each of {rank} dims); recompile the model")
    return tuple(tuple(axes) for axes in obj)


def check_sharding(sharding: Sharding, shape: tuple, mesh: MeshSpec, what: str) -> None:
    """ArtifactError unless sharding fits mesh and the (static) shape."""
    used = [a for axes in sharding for a in axes]
    unknown = [a for a in used if a not in mesh.axes]
    if unknown or len(set(used)) != len(used):
        problem = (f"names axes {unknown} that the {mesh} lacks" if unknown
                   else "uses a mesh axis twice")
        raise ArtifactError(f"{what}: its sharding {spec_text(sharding)} {problem}; recompile "
                            "the model")
    for dim, axes in zip(shape, sharding):
        if not isinstance(dim, int) or dim % mesh.axis_size(axes):
            raise ArtifactError(f"{what}: dim {dim!r} is not divisible into "
                                f"{mesh.axis_size(axes)} blocks by {spec_text(sharding)} on the "
                                f"{mesh}; recompile the model")


def spec_text(sharding: Sharding) -> str:
    """JAX's spelling of a sharding: P('x', None), P(('x', 'y'),)."""
    entries = ["None" if not axes else repr(axes[0]) if len(axes) == 1 else
               "(" + ", ".join(map(repr, axes)) + ")" for axes in sharding]
    return "P(" + ", ".join(entries) + ("," if len(entries) == 1 and len(sharding[0]) > 1
                                        else "") + ")"


def block_shape(shape: tuple, sharding: Sharding, mesh: MeshSpec) -> tuple:
    """The shape of each device's block of a global array of shape."""
    return tuple(dim // mesh.axis_size(axes) for dim, axes in zip(shape, sharding))


def block_index(p: int, sharding: Sharding, mesh: MeshSpec) -> tuple:
    """Which block along each dim device p holds (mixed radix over each dim's axes)."""
    coords = mesh.coordinates(p)
    index = []
    for axes in sharding:
        position = 0
        for a in axes:
            position = position * mesh.axis_size((a,)) + coords[a]
        index.append(position)
    return tuple(index)


def _slices(p: int, sharding: Sharding, block: tuple, mesh: MeshSpec) -> tuple:
    return tuple(slice(i * n, (i + 1) * n) for i, n in zip(block_index(p, sharding, mesh), block))


def split(array: np.ndarray, sharding: Sharding, mesh: MeshSpec) -> list:
    """The blocks of a global array for devices 0..N-1 (numpy views, not copies)."""
    block = block_shape(array.shape, sharding, mesh)
    return [array[_slices(p, sharding, block, mesh)] for p in range(mesh.size)]


def assemble(blocks: list, sharding: Sharding, shape: tuple, mesh: MeshSpec) -> np.ndarray:
    """The global array of per-device blocks: each block read from the device that has
    coordinate 0 on every mesh axis the sharding does not name."""
    used = {a for axes in sharding for a in axes}
    if not used:
        return blocks[0]  # replicated: device 0 holds the whole array
    replicas = [a for a in mesh.axes if a not in used]
    out = np.empty(shape, blocks[0].dtype)
    block = block_shape(shape, sharding, mesh)
    for p, data in enumerate(blocks):
        coords = mesh.coordinates(p)
        if all(coords[a] == 0 for a in replicas):
            out[_slices(p, sharding, block, mesh)] = data
    return out
