"""A missing name of aotc.numpy, aotc.lax or aotc.nn is an AttributeError, so feature detection
(hasattr) works, and its message says what to use instead."""

import pytest

import aotc.lax
import aotc.nn
import aotc.numpy as anp


@pytest.mark.parametrize("module, name, hint", [
    (anp, "polyfit", "aotc.numpy.linalg.lstsq"),
    (anp, "nextafter", "aotc.numpy.finfo"),
    (anp, "random", "numpy.random outside"),
    (aotc.lax, "clamped", "aotc.lax.clamp"),
    (aotc.nn, "relu7", "aotc.nn.relu6"),
])
def test_missing_name_is_an_attribute_error_with_an_alternative(module, name, hint):
    assert not hasattr(module, name)
    with pytest.raises(AttributeError, match="README") as info:
        getattr(module, name)
    assert hint in str(info.value)
    assert "documentation" not in str(info.value)


def test_present_names_and_dunder_lookups_are_unchanged():
    assert hasattr(anp, "sum") and hasattr(aotc.lax, "clamp") and hasattr(aotc.nn, "relu")
    with pytest.raises(AttributeError, match="no attribute '__wrapped__'"):
        anp.__wrapped__  # noqa: B018
