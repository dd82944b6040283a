"""Hand-written examples of what acci-gen generates, used by the demo and the runtime's tests."""
