"""Python: the modules of a domain package and their tests."""
