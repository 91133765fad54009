"""The ``sparkgraph`` command: ``sparkgraph list`` and ``sparkgraph run <job> [options]``.

Every job parameter is a flag (``--graph.directed false``) and can also be given as
``--set graph.directed=false``; ``--config FILE`` reads a YAML file first. Precedence:
library defaults < YAML < flags. Errors print one line, ``error: ...``, and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import os
import re
import sys
import time

from sparkgraph import progress
from sparkgraph.config import keys_of, load_config, type_name
from sparkgraph.errors import ConfigError, SparkgraphError
from sparkgraph.jobs import JOBS, get_job
from sparkgraph.preflight import preflight

log = logging.getLogger("sparkgraph")


class _Parser(argparse.ArgumentParser):
    """argparse that takes no abbreviations and turns its errors into one line with the nearest key."""

    def __init__(self, *args, keys: list[str] = (), **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)
        self.keys = list(keys)

    def error(self, message: str):
        unknown = re.findall(r"--([\w.-]+)", message) if "unrecognized arguments" in message else []
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.keys, n=1, cutoff=0.5)
            hint = f"did you mean --{close[0]}?" if close else f"{self.prog} --help lists the options"
            raise ConfigError(f"unknown option --{unknown[0]}; {hint}")
        raise ConfigError(f"{message}; {self.prog} --help lists the options")


def _job_parser(name: str) -> argparse.ArgumentParser:
    job = get_job(name)
    keys = list(keys_of(job.Config))
    parser = _Parser(
        keys=keys,
        prog=f"sparkgraph run {name}",
        description=job.__doc__.strip().splitlines()[0] if job.__doc__ else name,
        epilog="Precedence: library defaults < --config YAML < flags. Example: "
               f"sparkgraph run {name} --config conf/{name}.yaml --set output.mode=overwrite",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="YAML file with parameters, nested by section")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any parameter by its dotted key (repeatable)")
    parser.add_argument("--progress", choices=progress.MODES, default="auto",
                        help="how phases show their progress: auto (a bar on a terminal, else a log line after 10 s and "
                             "every 30 s), bar, log or off [default: auto]")
    for key in keys_of(job.Config).values():
        default = "required" if key.default is dataclasses.MISSING else json.dumps(key.default, default=str)
        parser.add_argument(f"--{key.name}", dest=f"key:{key.name}", metavar=type_name(key.type).upper(),
                            help=f"{key.help} [default: {default}]".replace("%", "%%"))  # argparse formats help with %
    return parser


def run_job(name: str, argv: list[str]) -> int:
    """Parse a job's arguments, build the session, run it, print its summary."""
    args = _job_parser(name).parse_args(argv)
    overrides: dict[str, str] = {}
    for item in args.set:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE; write e.g. --set graph.directed=false")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value
    for dest, value in vars(args).items():
        if dest.startswith("key:") and value is not None:
            overrides[dest[4:]] = value
    job = get_job(name)
    config = load_config(job.Config, args.config, overrides)

    import sparkgraph
    from sparkgraph.session import get_session

    log.info("sparkgraph %s from %s", sparkgraph.__version__, os.path.dirname(sparkgraph.__file__))

    preflight(config)
    started = time.perf_counter()
    try:
        spark = get_session(config.spark)
    except Exception as exc:  # a JVM that would not start: say so in one line
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise SparkgraphError(f"Spark did not start ({first[:200]}); check spark.master, spark.driver_memory and "
                              "that Java 17 is installed") from None
    progress.set_mode(args.progress)
    try:
        summary = job.run(spark, config)
    finally:
        progress.set_mode("off")  # the Python API is quiet unless asked
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(job.format_summary(summary) if hasattr(job, "format_summary") else json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sparkgraph`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines are connection chatter
    top = argparse.ArgumentParser(prog="sparkgraph", description="Graph analytics on Apache Spark.")
    sub = top.add_subparsers(dest="command")
    sub.add_parser("list", help="list the jobs")
    run = sub.add_parser("run", help="run a job: sparkgraph run <job> --help lists its parameters",
                         add_help=False)
    run.add_argument("job", nargs="?")
    if not argv:
        top.print_help()
        return 0
    if argv[0] == "list":
        for name, job in JOBS.items():
            print(f"{name:10s} {job().__doc__.strip().splitlines()[0]}")
        return 0
    if argv[0] != "run":
        top.print_help()
        return 2
    if len(argv) < 2 or argv[1].startswith("-"):
        print(f"usage: sparkgraph run <job> [options]; jobs: {', '.join(JOBS)}", file=sys.stderr)
        return 2
    try:
        return run_job(argv[1], argv[2:])
    except SparkgraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
