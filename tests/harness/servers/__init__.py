"""Local HTTP servers speaking provider wire formats (127.0.0.1 only)."""
