"""aotc's version, as installed (recorded in every artifact and bundle)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("aotc")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
