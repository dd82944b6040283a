"""Hand-written decisions of the ordering domain.

acci-gen created this package once and never overwrites it: the modules in it are yours.
"""
