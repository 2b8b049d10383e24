"""No op classes: stablehlo ops stay generic OpViews (see aotc.frontend.core.dialects)."""
