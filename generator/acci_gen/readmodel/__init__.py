"""Read models: tables, indexes and incremental migrations from a domain's projections, and the
Python of its projections and queries."""
