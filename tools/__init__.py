"""Compile driver and command-line interface."""
