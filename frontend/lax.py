"""`aotc.lax`: structured control flow and lower-level ops."""

__all__: list[str] = []
