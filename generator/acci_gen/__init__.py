"""acci-gen: turns a domain described in YAML into typed events, aggregates, commands, handlers
and tests that run on the ACCI runtime."""

import importlib.metadata as _metadata

# One version for the distribution: pyproject.toml's, from the installed metadata (acci-gen and
# the runtime ship together as the distribution "acci").
try:
    __version__ = _metadata.version("acci")
except _metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
