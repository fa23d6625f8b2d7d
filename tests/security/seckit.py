"""Shared constants of the security tests (a module of its own: every test
directory has a `conftest`, so `from conftest import` would be ambiguous)."""

SECRET = "TOPSECRET-outside-7f3a"
DEFAULT_ALLOW = ("ls", "cat", "grep", "python", "python3", "pytest", "git", "make", "wc", "head", "tail", "find")
"""The allowlist of the project's registry.toml (`[policies.default.run_command]`)."""
