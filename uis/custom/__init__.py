"""Custom UIs, one module per UI, found by name (see ``uis.registry``)."""
