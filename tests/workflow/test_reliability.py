"""Reliability drills on config/test.yaml: killed runs, a killed job, a second run at once.

The oracle is the uninterrupted run (`local_run`): a run from scratch that is
SIGKILLed at every stage, a job killed on its own, a second `snakemake` started
beside it, and resumed each time with the README's commands, must end with
result tables byte-identical to it. That also makes it the identical-rerun
check: two runs from scratch, one table set.

The drilled run trains one of test.yaml's losses (half the jobs). Its tables are
compared with the uninterrupted run's tables of that loss: the per-model files
under its {loss} level, and the rows of that loss in every summary table. So the
same comparison also checks that the losses are independent: adding a loss to a
run changes no number of another loss.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, SNAKEMAKE

CONFIG = REPO / "config" / "test.yaml"
LOSS = "mae"  # the drilled run's one loss
# The README's commands (section *Failures and reruns*), in a test working directory.
RUN = ["--cores", "2"]
UNLOCK = ["--unlock"]
POLL_SECONDS = 0.05


def snakemake(workdir: Path, *args: str) -> list[str]:
    """The README's command in `workdir`, on test.yaml with `losses: [LOSS]` (its
    `--config` override, so the config file itself is the test's)."""
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(CONFIG), "--config", f"losses=[{LOSS}]", *args]  # fmt: skip


@dataclass
class Drill:
    """Kill `delay` s after this attempt first writes a log matching `pattern`."""

    name: str
    pattern: str
    delay: float
    whole_run: bool = True  # False: kill only the job's own process, not Snakemake


DRILLS = [
    Drill("ingest", "logs/ingest_*.log", 0.0),
    Drill("training", "logs/train/*/*/fold*.log", 3.0),
    Drill("one saliency job (not Snakemake)", "logs/saliency/*/*/fold*/*.log", 3.0, False),
    Drill("saliency", "logs/saliency/*/*/fold*/*.log", 2.0),
    Drill("perturbation", "logs/perturb/*/*/fold*/*/shard*.log", 1.0),
    Drill("aggregation", "logs/aopc_summary.log", 0.0),
]


def fresh_logs(workdir: Path, pattern: str, since: float) -> list[Path]:
    return [p for p in workdir.glob(pattern) if p.stat().st_mtime >= since]


def job_processes(workdir: Path, script: str) -> list[int]:
    """PIDs of running job processes of `script` (a workflow/scripts file) in `workdir`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if script in cmdline and Path(cwd) == workdir:
            pids.append(int(proc.name))
    return pids


def attempt(workdir: Path, drill: Drill) -> dict:
    """One run of the README command, killed as `drill` says; what happened."""
    started = time.time()
    log = workdir.parent / f"{workdir.name}-{len(list(workdir.parent.glob('*.stderr')))}.stderr"
    with open(log, "w") as stderr:  # a file, not a pipe: a full pipe would block Snakemake
        process = subprocess.Popen(
            snakemake(workdir, *RUN),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: the kill takes every job with it
        )
    killed, first_seen = None, None
    while process.poll() is None and killed is None:
        if first_seen is None and fresh_logs(workdir, drill.pattern, started):
            first_seen = time.time()
        if first_seen is not None and time.time() - first_seen >= drill.delay:
            if drill.whole_run:
                os.killpg(process.pid, signal.SIGKILL)
                killed = "snakemake and its jobs"
            else:
                pids = job_processes(workdir, "workflow/scripts/saliency.py")
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
                killed = f"job process(es) {pids}" if pids else None
        time.sleep(POLL_SECONDS)
    process.wait(timeout=1800)
    return {"drill": drill.name, "killed": killed, "returncode": process.returncode,
            "stderr": log.read_text()}  # fmt: skip


@pytest.fixture(scope="module")
def drilled_run(tmp_path_factory) -> tuple[Path, list[dict], subprocess.CompletedProcess]:
    """test.yaml from scratch through every drill, then run to the end."""
    workdir = tmp_path_factory.mktemp("drilled_run")
    outcomes = []
    for drill in DRILLS:
        outcome = attempt(workdir, drill)
        if outcome["returncode"] == -signal.SIGKILL:  # its lock is left behind
            subprocess.run(snakemake(workdir, *UNLOCK), check=True, capture_output=True)
        outcomes.append(outcome)
    # A stale temp file, as a job killed while writing leaves one (name of
    # hcxai.core.io.atomic_output): the rerun must not read it and must remove it.
    stale = workdir / "results" / ".aopc_table.tmp-999999.csv"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("not,a,table\n")
    final = subprocess.run(snakemake(workdir, *RUN), capture_output=True, text=True,
                           timeout=1800)  # fmt: skip
    return workdir, outcomes, final


def rows_of_loss(path: Path) -> bytes:
    """A summary table's header and the lines of its rows whose `loss` column is LOSS, as
    written (the whole file when it has no loss column)."""
    lines = path.read_bytes().splitlines(keepends=True)
    header = next(csv.reader([lines[0].decode()]))
    if "loss" not in header:
        return b"".join(lines)
    column = header.index("loss")
    kept = [line for line in lines[1:] if next(csv.reader([line.decode()]))[column] == LOSS]
    return b"".join([lines[0], *kept])


def result_tables(workdir: Path) -> dict[str, bytes]:
    """Every table a run writes, of LOSS's models: the files under a `LOSS` path level,
    not those of another loss, and LOSS's rows of every other table. Timings stay in
    results/benchmarks and the run's config (which names its losses) in
    config.effective.yaml: neither is compared."""
    results = workdir / "results"
    losses = {"mae", "mse", "huber"}
    tables = {}
    for path in sorted(results.rglob("*")):
        parts = set(path.relative_to(results).parts[:-1])
        if path.suffix != ".csv" or "benchmarks" in parts or parts & (losses - {LOSS}):
            continue
        # A per-model file (under a {loss} level) whole; a summary table, LOSS's rows.
        summary = path.parent == results
        tables[str(path.relative_to(results))] = (
            rows_of_loss(path) if summary else path.read_bytes()
        )
    return tables


def test_every_drill_struck_while_its_stage_ran(drilled_run):
    _, outcomes, _ = drilled_run
    for outcome in outcomes:
        assert outcome["killed"], f"{outcome['drill']}: the run ended before the kill"
        if outcome["drill"].startswith("one saliency job"):
            # Snakemake saw its job die, said so, and stopped by itself.
            assert outcome["returncode"] == 1, outcome["stderr"][-3000:]
            assert "Error in rule saliency" in outcome["stderr"]
        else:
            assert outcome["returncode"] == -signal.SIGKILL


def test_the_resumed_run_completes(drilled_run):
    _, _, final = drilled_run
    assert final.returncode == 0, final.stderr[-6000:]


def test_resumed_tables_are_byte_identical_to_an_uninterrupted_run(drilled_run, local_run):
    workdir, _, _ = drilled_run
    drilled, reference = result_tables(workdir), result_tables(local_run)
    assert len(reference) > 40, sorted(reference)  # every stage's tables, not a few
    assert sorted(drilled) == sorted(reference)
    differ = [name for name in reference if drilled[name] != reference[name]]
    assert not differ, f"tables that differ from the uninterrupted run: {differ}"


def test_no_temp_file_survives_and_none_was_read(drilled_run):
    workdir, _, _ = drilled_run
    leftovers = [p for root in ("results", "resources") for p in (workdir / root).rglob(".*tmp-*")]
    assert not leftovers, leftovers


def test_a_second_run_in_the_same_directory_is_refused_and_harms_neither(drilled_run, local_run):
    workdir, _, _ = drilled_run
    before = result_tables(workdir)
    target = "results/aopc/vgg16/mae/gradient.csv"
    first_log = workdir.parent / "first-run.stderr"
    with open(first_log, "w") as stderr:  # a file, not a pipe (see `attempt`)
        first = subprocess.Popen(
            snakemake(workdir, *RUN, "--forcerun", target), stdout=subprocess.DEVNULL, stderr=stderr
        )
    locks = workdir / ".snakemake" / "locks"
    deadline = time.monotonic() + 120
    while not any(locks.glob("*")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(POLL_SECONDS)
    assert first.poll() is None, "the first run ended before it held the lock"
    second = subprocess.run(snakemake(workdir, *RUN), capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    first.wait(timeout=1800)
    first_err = first_log.read_text()
    assert second.returncode != 0
    assert "cannot be locked" in second.stderr + second.stdout, second.stderr[-3000:]
    assert first.returncode == 0, first_err[-3000:]
    assert result_tables(workdir) == before == result_tables(local_run)


def test_a_corrupted_file_stops_its_readers_and_a_rebuild_restores_the_tables(
    drilled_run, local_run
):
    workdir, _, _ = drilled_run
    saliency = workdir / "results/saliency/vgg16/mae/fold0/gradient.h5"
    saliency.write_bytes(saliency.read_bytes()[: saliency.stat().st_size // 2])  # truncated
    result = subprocess.run(snakemake(workdir, *RUN), capture_output=True, text=True,
                            timeout=1800)  # fmt: skip
    assert result.returncode != 0
    relative = saliency.relative_to(workdir)
    message = f"{relative} cannot be read"
    # Each reader that ran stopped with one line naming the file and the fix, and
    # left no output. (Snakemake starts no job after the first failure, so which
    # readers ran depends on the schedule; one that did not run keeps its output,
    # and its rerun is due.)
    shard = "vgg16/mae/fold0/gradient/shard0"
    readers = {  # the log of each reader job -> its output under results/
        f"logs/perturb/{shard}.log": f"perturbation/{shard}.csv",
        "logs/localization/vgg16/mae/fold0/gradient.log": (
            "localization/vgg16/mae/fold0/gradient.csv"
        ),
        "logs/meta/vgg16/mae.log": "meta/vgg16/mae/gradient.csv",
        # The map metrics and the figures that read every saliency file of the model.
        **{
            f"logs/metrics/vgg16/mae/{metric}.log": f"metrics/vgg16/mae/{metric}.csv"
            for metric in ("sparseness", "entropy")
        },
        **{
            f"logs/figures/{figure}.log": f"figures/{figure}.png"
            for figure in ("saliency_comparison", "saliency_best_worst", "perturbation_process")
        },
    }
    ran = [
        log
        for log in readers
        if (workdir / log).exists() and message in (workdir / log).read_text()
    ]
    assert ran, "no reader of the damaged file reported it"
    for log in ran:
        assert f"`snakemake --forcerun {relative}`" in (workdir / log).read_text()
        assert not (workdir / "results" / readers[log]).exists(), readers[log]
    # The fix the message gives.
    subprocess.run(
        snakemake(workdir, *RUN, "--forcerun", str(relative)),
        capture_output=True,
        check=True,
        timeout=1800,
    )
    assert result_tables(workdir) == result_tables(local_run)
