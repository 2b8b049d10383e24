"""No op classes: chlo ops stay generic OpViews (see aotc.frontend.core.dialects)."""
