"""Indexing of traced arrays: x[...] (slices, None, Ellipsis, ints, int arrays) and x.at[...]."""

__all__: list[str] = []


def getitem(x, index):
    raise NotImplementedError("indexing traced arrays is not implemented yet")


class IndexUpdateHelper:
    """`x.at[idx].set(v)` and friends."""

    def __init__(self, x):
        self.x = x

    def __getitem__(self, index):
        raise NotImplementedError("x.at[...] is not implemented yet")
