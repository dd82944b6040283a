"""acci-gen: turns a domain described in YAML into typed events, aggregates, commands, handlers
and tests that run on the ACCI runtime."""

__version__ = "0.1.0"
