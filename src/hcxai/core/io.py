"""Shared I/O conventions: one error type for bad input, atomic outputs, job logging,
and the checked readers of the files stages hand each other."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pandas, NumPy and h5py are imported where used: TF jobs import io too
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


class InputError(ValueError):
    """Bad user input: the message names the file or config key and the fix."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success.

    A crash or an error leaves no file at `path`, so a rerun never trusts a
    half-written output; a temp file that a killed job left is removed by the
    next job that writes the same output.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: Keras and PIL choose the file format from it.
    tmp = final.with_name(f".{final.stem}.tmp-{os.getpid()}{final.suffix}")
    # Snakemake runs one job per output at a time, so any other temp file of this
    # output is what a killed job left behind: remove it, never read it.
    for stale in final.parent.glob(f".{glob.escape(final.stem)}.tmp-*{final.suffix}"):
        if stale != tmp:
            log.info("removing %s, left by a killed job", stale)
            stale.unlink(missing_ok=True)
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


def job_arguments(
    snakemake: Any = None, argv: list[str] | None = None
) -> tuple[dict[str, Any], int]:
    """What a rule hands its script, one way in both environments: (job, threads).

    `job` holds `input`, `output` and `wildcards` (name -> file, files or value), `log`
    (the job's log file; None where the rule sends the process's output to it) and the
    rule's `settings` param (`job_settings`), flat. A workflow-env rule runs its script
    with `script:` and passes its `snakemake` object; a TensorFlow rule runs it in the
    other environment (TF_COMMAND) with the same content as two JSON arguments
    (`job_files`, `job_settings`; see workflow/rules/common.smk).
    """
    if snakemake is not None:
        files = {
            "input": _named(snakemake.input),
            "output": _named(snakemake.output),
            "wildcards": dict(snakemake.wildcards.items()),
            "log": snakemake.log[0] if len(snakemake.log) else None,
        }
        return {
            **files,
            **json.loads(getattr(snakemake.params, "settings", "{}")),
        }, snakemake.threads
    parser = argparse.ArgumentParser(description="a workflow job; see the rule that calls it")
    parser.add_argument("files", help="JSON: input, output and wildcards")
    parser.add_argument("settings", help="JSON: the job's settings")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    return {"log": None, **json.loads(args.files), **json.loads(args.settings)}, args.threads


def _named(files: Any) -> dict[str, str | list[str]]:
    """A rule's named inputs or outputs: one file as a path, several as a list."""
    return {name: value if isinstance(value, str) else list(value) for name, value in files.items()}


# --- Damaged workflow files: one wording, one CSV reader, the HDF5 basics ----------------

T = TypeVar("T")
# Column kinds of `read_table`; a tuple of strings instead lists a column's allowed values.
NUMBER_KINDS = {
    "number": "a finite number",
    "number_or_nan": "a finite number or empty",
    "int": "a whole number",
}
TEXT_KINDS = {"id": "a non-empty name", "text": "text", "bool": "True or False"}
Kind = str | tuple[str, ...]


def rebuild_hint(path: str | os.PathLike, rule: str | None = None) -> str:
    """How to rebuild a damaged workflow file: every reader says it the same way.

    `--forcerun` and not "delete it": Snakemake 9 does not rebuild a deleted
    intermediate file whose downstream tables exist (tests/workflow/test_reliability.py).
    """
    by = f" (rule {rule})" if rule else ""
    return (
        f"rerun with `snakemake --forcerun {path}` and your usual options to rebuild "
        f"it{by} and everything made from it"
    )


def damaged_file(path: str | os.PathLike, what: str, rule: str | None = None) -> InputError:
    """The error for a damaged workflow file: '{path} {what}; {how to rebuild it}'."""
    return InputError(f"{path} {what}; {rebuild_hint(path, rule)}")


def read_table(
    path: str | os.PathLike,
    columns: Mapping[str, Kind],
    *,
    rule: str | None = None,
    unique: Sequence[str] = (),
    allow_empty: bool = False,
) -> pd.DataFrame:
    """A CSV a stage wrote, checked; any damage is one InputError naming the file and the fix.

    `columns` maps every column the reader needs to its kind: "id" (non-empty text),
    "text" (empty is ""), "bool", "int", "number" (finite), "number_or_nan" (finite or
    empty), or a tuple of the values allowed. Other columns stay as pandas parses them. Refused:
    a file cut short or unparsable, a missing column, a bad value (its column and line
    are named), `unique` columns that repeat, and no rows unless `allow_empty`.
    """
    frame = _parse_csv(path, columns, rule)
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise damaged_file(path, f"lacks the column(s) {missing}", rule)
    if frame.empty and not allow_empty:
        raise damaged_file(path, "has no rows", rule)
    for name, kind in columns.items():
        frame[name] = _checked_column(frame[name], name, kind, path, rule)
    repeated = frame.duplicated(list(unique)).to_numpy() if unique else []
    if any(repeated):
        line = int(repeated.argmax()) + 2
        raise damaged_file(path, f"repeats a {'/'.join(unique)} at line {line}", rule)
    return frame


def _parse_csv(
    path: str | os.PathLike, columns: Mapping[str, Kind], rule: str | None
) -> pd.DataFrame:
    """pandas' parse of a whole file; text columns stay text ('001' keeps its zeros)."""
    import pandas as pd

    text = {name: str for name, kind in columns.items() if kind not in NUMBER_KINDS}
    try:
        with open(path, "rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                raise damaged_file(path, "is empty", rule)
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # pandas ends every table it writes with one
                raise damaged_file(path, "is cut short (its last line has no line end)", rule)
        with warnings.catch_warnings():
            # A row longer than the header: pandas would drop its extra fields with a warning.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=text, index_col=False)
    except (
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        UnicodeDecodeError,
        OSError,
    ) as error:
        raise damaged_file(path, f"cannot be read as a table ({error})", rule) from None


def _checked_column(
    values: pd.Series, name: str, kind: Kind, path: str | os.PathLike, rule: str | None
) -> pd.Series:
    """One column in its kind; the first value that is not is an InputError."""
    import pandas as pd

    if kind in NUMBER_KINDS:
        numbers = pd.to_numeric(values, errors="coerce")
        finite = numbers.notna() & ~numbers.isin([math.inf, -math.inf])
        whole = finite & (numbers == numbers.round()) if kind == "int" else finite
        bad = values.notna() & ~finite if kind == "number_or_nan" else ~whole
        _refuse(values, bad, name, NUMBER_KINDS[kind], path, rule)
        return numbers.astype("int64") if kind == "int" else numbers
    if kind == "id":
        _refuse(values, values.fillna("").str.strip() == "", name, TEXT_KINDS[kind], path, rule)
        return values
    if kind == "text":
        return values.fillna("")
    if kind == "bool":
        _refuse(values, ~values.isin(["True", "False"]), name, TEXT_KINDS[kind], path, rule)
        return values == "True"
    if isinstance(kind, tuple):
        _refuse(values, ~values.isin(kind), name, f"one of {list(kind)}", path, rule)
        return values
    raise ValueError(f"column {name!r}: unknown kind {kind!r}")


def _refuse(
    values: pd.Series,
    bad: pd.Series,
    name: str,
    expected: str,
    path: str | os.PathLike,
    rule: str | None,
) -> None:
    """InputError naming the first bad value of a column, its line (header = line 1) and count."""
    import pandas as pd

    flags = bad.to_numpy(dtype=bool)
    if flags.any():
        first = int(flags.argmax())
        value = values.iloc[first]
        shown = "an empty value" if pd.isna(value) else repr(value)
        raise damaged_file(
            path,
            f"has {shown} in column {name!r} at line {first + 2}, expected {expected} "
            f"({int(flags.sum())} such value(s))",
            rule,
        )


def read_hdf5(path: str | os.PathLike, read: Callable[[Any], T], rule: str) -> T:
    """`read(h5)` on the open file; bytes h5py cannot read (truncated, garbage, a damaged
    chunk) are one InputError naming the file and the rebuild."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return read(h5)
    except OSError as error:
        raise damaged_file(path, f"cannot be read ({error})", rule) from None


def require_contents(
    h5: Any,
    path: str | os.PathLike,
    what: str,
    rule: str,
    datasets: Sequence[str],
    attributes: Sequence[str] = (),
) -> None:
    """Refuse a file that lacks one of `datasets` or `attributes`: it is not `what`."""
    missing = [n for n in datasets if n not in h5] + [n for n in attributes if n not in h5.attrs]
    if missing:
        raise damaged_file(path, f"is not {what} (missing {missing})", rule)


def read_ids(h5: Any, name: str, path: str | os.PathLike, rule: str) -> list[str]:
    """A 1-D dataset of distinct, non-empty names (image ids)."""
    import h5py

    dataset = h5[name]
    if (
        not isinstance(dataset, h5py.Dataset)
        or dataset.ndim != 1
        or h5py.check_string_dtype(dataset.dtype) is None
    ):
        raise damaged_file(path, f"has no list of names in {name}", rule)
    ids = [str(s) for s in dataset.asstr()[:]]
    if "" in ids or len(set(ids)) != len(ids):
        raise damaged_file(path, f"has empty or repeated names in {name}", rule)
    return ids


def require_finite(array: np.ndarray, name: str, path: str | os.PathLike, rule: str) -> None:
    """Refuse NaN or infinite values in a numeric array, naming the first one's position."""
    import numpy as np

    if array.dtype.kind not in "biuf":
        raise damaged_file(path, f"has {name} of type {array.dtype}, expected numbers", rule)
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise damaged_file(
            path,
            f"has NaN or infinite values in {name} ({int(bad.sum())}, first at {where})",
            rule,
        )
