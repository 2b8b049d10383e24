"""Errors of the `aotc` command line: a bad value or file given by the user."""

from aotc_runtime import AotcError


class UserError(AotcError):
    """A bad input value or file given on the command line."""
