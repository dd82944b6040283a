"""Docs: Markdown with Mermaid diagrams and JSON Schemas."""
