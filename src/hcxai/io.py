"""Shared I/O conventions: one error type for bad input, atomic outputs, job logging."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad user input: the message names the file or config key and the fix."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success.

    A crash or an error leaves no file at `path`, so a rerun never trusts a
    half-written output.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: Keras and PIL choose the file format from it.
    tmp = final.with_name(f".{final.stem}.tmp-{os.getpid()}{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def setup_logging(log_file: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Log to stderr and, for a workflow job, to its `log:` file."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def run_job(log_file: str | None, function: Callable[..., object], **kwargs: object) -> None:
    """Run one workflow step: log to its log file; bad input ends it with the message alone.

    An `InputError` already says what is wrong and how to fix it, so it is
    logged without a traceback and the job exits with status 1; any other
    exception is a bug and keeps its traceback.
    """
    setup_logging(log_file)
    try:
        function(**kwargs)
    except InputError as error:
        logging.getLogger("hcxai").error("%s", error)
        sys.exit(1)


def job_arguments(argv: list[str] | None = None) -> tuple[dict[str, Any], int]:
    """The job a rule passes a TensorFlow script: (files + settings as one dict, threads).

    The rule gives two JSON arguments, `job_files` (input, output, wildcards)
    and `job_settings`; see workflow/rules/common.smk.
    """
    parser = argparse.ArgumentParser(description="a workflow job; see the rule that calls it")
    parser.add_argument("files", help="JSON: input, output and wildcards")
    parser.add_argument("settings", help="JSON: the job's settings")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    return {**json.loads(args.files), **json.loads(args.settings)}, args.threads
