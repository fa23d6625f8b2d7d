"""``ragc completion bash|zsh|tcsh``: a shell completion script.

The script is generated from the same argparse parser the commands use, by
shtab (https://github.com/iterative/shtab), so it completes every command,
subcommand and option (and file names for paths) without a hand-kept list.
Install, e.g.: ``ragc completion bash > ~/.local/share/bash-completion/completions/ragc``
or ``ragc completion zsh > "${fpath[1]}/_ragc"``.
"""

from __future__ import annotations

import sys

from ragc.cli.main import EXIT_OK

SHELLS = ("bash", "zsh", "tcsh")


def register(subparsers) -> None:
    """Add ``completion`` to ``subparsers``."""
    p = subparsers.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh)",
                              description="Print a completion script for SHELL on stdout; see docs/cli.md "
                                          "for where to install it.")
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or tcsh")
    p.set_defaults(handler=cmd_completion)


def cmd_completion(args) -> int:
    """``ragc completion SHELL``."""
    import shtab

    from ragc.cli.main import build_parser

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK
