"""The emit stage: a checked domain model rendered into files (Python, SQL, Markdown)."""
