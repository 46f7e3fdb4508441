"""``opengap completion bash|zsh|tcsh``: a shell completion script for ``opengap``."""

from __future__ import annotations

import argparse

HELP = "print a shell completion script (bash, zsh or tcsh)"
DESCRIPTION = ("Print a completion script for opengap's commands, options and choices, "
               "generated from its own argument parser (shtab). Install it, e.g. for bash: "
               "opengap completion bash > ~/.local/share/bash-completion/completions/opengap; "
               "for zsh: opengap completion zsh > \"${fpath[1]}/_opengap\".")

SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    import shtab

    from sim.cli.main import build_parser

    print(shtab.complete(build_parser(), shell=args.shell), end="")
    return 0
