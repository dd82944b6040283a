"""SQL: read-model tables and their incremental migrations."""
