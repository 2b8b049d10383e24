"""More aotc.numpy functions: cumulative ops, sorting, tile/repeat/roll/pad."""

__all__: list[str] = []
