"""aotc linalg: products (see aotc.frontend.linalg)."""

__all__: list[str] = []
