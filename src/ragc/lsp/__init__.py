"""``ragc lsp``: the language server (pygls). See ``docs/lsp.md``."""
