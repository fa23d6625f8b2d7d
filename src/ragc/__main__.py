"""``python -m ragc`` is the ``ragc`` command."""

from ragc.cli.main import main

raise SystemExit(main())
