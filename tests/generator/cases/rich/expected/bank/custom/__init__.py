"""Hand-written code of the bank domain: decisions and upcasters.

acci-gen created this package once and never overwrites it: the modules in it are yours.
"""
