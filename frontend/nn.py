"""`aotc.nn`: activation functions and friends."""

__all__: list[str] = []
