"""Tenants across databases: the router (acci.tenants.router) and moving a tenant from one
database to another (acci.tenants.moves)."""

from acci.tenants.router import DEFAULT, RoutedEventStore, TenantRouter

__all__ = ["DEFAULT", "RoutedEventStore", "TenantRouter"]
