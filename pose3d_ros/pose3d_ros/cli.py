"""The `pose3d` command: one entry point whose subcommands live next to the code they drive.

Each module in COMMAND_MODULES defines ``register(add_command)``; ``add_command("train lifter", run, help)``
returns the argparse parser of that subcommand, and ``run(args) -> int`` is its exit code. Command modules keep
their top-level imports light (argparse, pathlib) and import torch / mediapipe inside ``run``, so that
``pose3d --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = (
    "pose3d_ros.data.commands",
    "pose3d_ros.keypoints2d.commands",
    "pose3d_ros.lifting.commands",
    "pose3d_ros.pipeline.commands",
    "pose3d_ros.temporal.commands",
)

GROUP_HELP = {
    "data": "training-data tools",
    "train": "train a model",
    "eval": "evaluate a model",
    "bench": "measure speed",
}


def write_json_report(path, report: dict) -> None:
    """A command's numbers as indented JSON when ``--json PATH`` was given (its folder made), and where they went."""
    import json

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pose3d", description="Camera images to 3D whole-body skeletons.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}

    def add_command(path: str, run, help: str) -> argparse.ArgumentParser:
        words = path.split()
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help, description=help)
        else:
            group, name = words
            if group not in groups:
                group_parser = top.add_parser(group, help=GROUP_HELP[group])
                groups[group] = group_parser.add_subparsers(dest="subcommand", metavar="WHAT", required=True)
            sub = groups[group].add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except (FileNotFoundError, ValueError) as err:  # bad input: a clear message and a non-zero exit
        logging.getLogger("pose3d").error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
