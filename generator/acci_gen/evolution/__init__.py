"""Event schema evolution: older versions of an event, the declarative steps that upcast each one
to the next, the lock file of released shapes, and the compatibility check."""
