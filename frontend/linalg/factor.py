"""aotc linalg: factor (see aotc.frontend.linalg)."""

__all__: list[str] = []
