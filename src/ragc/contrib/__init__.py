"""Support functions for the workflows in ``workflows/`` (registered in the
repository's ``registry.toml`` under ``[functions.*]``)."""
