"""aotc linalg: spectral (see aotc.frontend.linalg)."""

__all__: list[str] = []
