"""``python -m contrastlab.families``: list the registered families and their config keys.

``python -m contrastlab.families new <name> [--root PATH]`` writes the skeleton of a new
family (:mod:`contrastlab.scaffold`): its package, its tests and its experiment blocks in
``config/config.yaml`` and ``config/paper.yaml`` (README, "Adding a family").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m contrastlab.families",
        description="Without a command: list every registered family, its figures, fusable "
        "keys and config keys with their defaults.",
    )
    sub = parser.add_subparsers(dest="command")
    new = sub.add_parser(
        "new",
        help="write the skeleton of a new family",
        description="Write the skeleton of a new experiment family that trains on its tiny "
        "block and passes the registry tests: src/contrastlab/families/<name>/, "
        "tests/<name>/, and an experiment block (activate: false) in config/config.yaml "
        "and config/paper.yaml.",
    )
    new.add_argument("name", help="the family's name: a lower-case Python identifier")
    new.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the repository to write into (default: the one this package lives in, else "
        "the current directory if it has a Snakefile)",
    )
    args = parser.parse_args(argv)
    if args.command is None:
        from contrastlab.registry import describe

        print(describe())
        return 0
    from contrastlab.scaffold import ScaffoldError, find_root, new_family, next_steps

    try:
        root = (args.root.resolve() if args.root else None) or find_root()
        written = new_family(args.name, root)
    except ScaffoldError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(next_steps(args.name, root, written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
