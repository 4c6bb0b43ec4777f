"""The workflow through a real SLURM cluster: `snakemake --profile profiles/slurm`.

A single-node slurmctld/slurmd (tests/slurm/cluster.py) is started for the
session. In CI (CI=true) a cluster that cannot start fails the tests; elsewhere
they are skipped with the reason.
"""

import itertools
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEMAKE, write_config
from slurm.cluster import ClusterUnavailableError, start

# The cluster runs config/test.yaml on one of its four models (backbone x loss): every
# kind of rule goes through SLURM in a quarter of the jobs (the local run covers the rest).
CLUSTER_CONFIG = {
    "backbones": ["resnet50"],
    "losses": ["mae"],
}


def profile() -> dict:
    """The user's SLURM profile (the oracle of the thread tests)."""
    return yaml.safe_load((REPO / "profiles/slurm/profile.v9+.yaml").read_text())


PROFILE = profile()
PROFILE_THREADS = PROFILE["set-threads"]
# The cluster trains with the local run's thread count (1): float sums over
# another number of threads change the trained weights in their last bits, and a
# small model trained for a few epochs turns that into MAE differences of 0.6% to
# 7.5% (measured on two seeds), which no fixed tolerance bounds. With the same
# training threads the models are the same, so the MAE table must be equal; the
# saliency jobs keep the profile's 2 threads (which the thread tests check), so the
# maps, and the AOPC and localization made from them, differ in float rounding only.
TEST_THREADS = {**PROFILE_THREADS, "train": 1, "train_permuted_labels": 1}
MAP_ROUNDING_TOLERANCE = 1e-4
TF_RULES = ("train", "train_permuted_labels", "saliency", "sanity_maps", "robustness_maps")
GPU_RULES = TF_RULES
# Memory cut to fit this 24 GB machine; everything else is the profile's.
TEST_MEMORY = {"train": 6000, "train_permuted_labels": 6000, "saliency": 4000, "sanity_maps": 4000}
# Site settings a user adds (README, *On a SLURM cluster*): the GPU jobs go to a
# partition of their own, the perturbation jobs carry a site flag.
SITE_RESOURCES = {
    **{rule: {"slurm_partition": "gpu"} for rule in GPU_RULES},
    "perturb": {"slurm_extra": "'--nice=7'"},
    "random_order": {"slurm_extra": "'--nice=7'"},
}


def set_resources() -> list[str]:
    """The profile's set-resources with the test's memory and the site settings.

    (`--set-resources` on the command line replaces the profile's, so they are
    given again in full.)
    """
    merged = {rule: dict(values) for rule, values in PROFILE["set-resources"].items()}
    for rule, mem_mb in TEST_MEMORY.items():
        merged[rule]["mem_mb"] = mem_mb
    for rule, values in SITE_RESOURCES.items():
        merged[rule].update(values)
    return [
        f"{rule}:{key}={value}" for rule, values in merged.items() for key, value in values.items()
    ]


# Test-only settings: accounting is off on the test cluster, so the plugin's
# sacct status check would hang. Not in the user's profile.
TEST_CLUSTER_ARGS = [
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
    "--latency-wait",
    "5",
    "--jobs",
    "4",
    # The node has 8 CPUs (tests/slurm/cluster.py), so every job gets the profile's
    # CPUs (train 4, saliency and sanity_maps 2).
    "--set-resources",
    *set_resources(),
    "--set-threads",
    *(f"{rule}={threads}" for rule, threads in TEST_THREADS.items()),
]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    try:
        running = start(tmp_path_factory.mktemp("slurm"))
    except ClusterUnavailableError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"SLURM test cluster could not start in CI: {error}")
        pytest.skip(f"no SLURM test cluster here: {error}")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = running.env["SLURM_CONF"]
    yield running
    running.stop()
    if previous is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = previous


def snakemake_slurm(workdir: Path, *args: str) -> list[str]:
    return [
        str(SNAKEMAKE),
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--configfile",
        str(workdir / "cluster.yaml"),
        "--slurm-logdir",
        str(workdir / "slurm_logs"),
        "--slurm-keep-successful-logs",
        *TEST_CLUSTER_ARGS,
        *args,
    ]


def slurm_jobs() -> list[dict[str, str]]:
    """Every job the controller still knows (the test cluster keeps finished ones 2 h)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o"], capture_output=True, text=True, check=True
    ).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if fields.get("Comment", "").startswith("rule_"):
            jobs.append(fields)
    return jobs


@pytest.fixture(scope="session")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm_run")
    write_config(workdir / "cluster.yaml", **CLUSTER_CONFIG)
    result = subprocess.run(
        snakemake_slurm(workdir), capture_output=True, text=True, timeout=2400, check=False
    )
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir, result, slurm_jobs()


def group_rules(job) -> tuple[str | None, set[str]]:
    """The profile group of a SLURM job and the rules it ran.

    The plugin comments a job `rule_<rule>_wildcards_<values>` and a group job
    `rule_<group>_<its rules in lexical order, joined by _>`.
    """
    comment = job["Comment"].removeprefix("rule_")
    for group in set(PROFILE["groups"].values()):
        members = sorted(rule for rule, name in PROFILE["groups"].items() if name == group)
        for n in range(1, len(members) + 1):
            for subset in itertools.combinations(members, n):
                if comment == f"{group}_{'_'.join(subset)}":
                    return group, set(subset)
    return None, {re.match(r"([a-z_0-9]+?)(_wildcards_|$)", comment).group(1)}


def group_of(job) -> str | None:
    return group_rules(job)[0]


def rules_of(job) -> set[str]:
    return group_rules(job)[1]


def test_what_went_through_sbatch_and_what_stayed_on_the_submit_host(slurm_run):
    """One submission per heavy job or group, none for a summary, table or figure.

    The oracle is the test config: folds, analyzers and shards give the count of
    each kind of submission (before the groups and localrules, every one of the
    run's jobs was a submission of its own: 64).
    """
    workdir, result, jobs = slurm_run
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", result.stderr)
    assert steps, result.stderr[-2000:]
    assert all(job["JobState"] == "COMPLETED" for job in jobs)
    config = yaml.safe_load((workdir / "cluster.yaml").read_text())
    folds, analyzers = config["folds"], len(config["analyzers"])
    test_images = config["dataset"]["n_images"] // folds
    shards = -(-test_images // config["perturbation"]["images_per_job"])
    expected = {
        "phantoms": 1,
        "ingest": 1,
        "train": folds,
        "train_permuted_labels": 1,  # the sanity fold's, for the one model
        "meta_explanation": 1,
        "explain": folds * analyzers,  # saliency + the localization of its map
        "sanity": analyzers,  # sanity_maps + its comparison
        "robustness_maps": analyzers,  # the robustness fold's perturbed-input maps
        "perturbation": folds * shards,  # a shard's random order + every analyzer's
    }
    kinds = [group_of(job) or rules_of(job).pop() for job in jobs]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == expected
    assert result.stderr.count("has been submitted with SLURM jobid") == sum(expected.values())
    logs = list((workdir / "slurm_logs").rglob("*.log"))
    assert {p.stem for p in logs} >= {job["JobId"] for job in jobs}
    # Everything else ran on the submit host: the summaries, tables and figures.
    local = set(re.findall(r"^localrule (\w+):", result.stderr, flags=re.MULTILINE))
    assert {"aopc_summary", "aopc_statistics", "scorecard", "mae_table", "split"} <= local
    assert {"map_metric", "map_metric_summary", "figure"} <= local
    assert not local & set().union(*(rules_of(job) for job in jobs))


def test_a_perturbation_allocation_asks_for_what_its_serial_jobs_use(slurm_run):
    """The plugin runs a group's jobs one after another (plugin issue #469): one
    CPU and the sum of the jobs' runtimes is what the allocation needs, and its jobs'
    own logs show them one after another; allocations run side by side."""
    workdir, _, jobs = slurm_run
    resources = PROFILE["set-resources"]
    config = yaml.safe_load((workdir / "cluster.yaml").read_text())
    minutes = (
        resources["random_order"]["runtime"]
        + len(config["analyzers"]) * resources["perturb"]["runtime"]
    )
    groups = [job for job in jobs if group_of(job) == "perturbation"]
    for job in groups:
        assert int(job["NumCPUs"]) == 1, job
        hours, mins, _ = job["TimeLimit"].split(":")
        assert int(hours) * 60 + int(mins) == minutes, job
    for fold in range(config["folds"]):
        spans = sorted(
            log_span(log)
            for log in (workdir / "logs/perturb/resnet50/mae" / f"fold{fold}").rglob("*.log")
        )
        assert len(spans) == 1 + len(config["analyzers"])
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), spans


def log_span(path: Path) -> tuple[float, float]:
    """First and last time stamp of a TensorFlow job's log (TF's and logging's)."""
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[.,](\d+)", path.read_text(), re.M)
    times = [datetime.fromisoformat(day).timestamp() + float(f"0.{frac}") for day, frac in stamps]
    return min(times), max(times)


def test_site_settings_reach_sbatch(slurm_run):
    """Partition per rule and `slurm_extra` (SITE_RESOURCES), as a site sets them."""
    _, _, jobs = slurm_run
    for job in jobs:
        rules = rules_of(job)
        assert job["Partition"] == ("gpu" if rules & set(GPU_RULES) else "debug"), job
        assert job["Nice"] == ("7" if "perturb" in rules else "0"), job


def test_gpu_rules_ask_for_a_gpu_and_the_rest_do_not(slurm_run):
    _, _, jobs = slurm_run
    for job in jobs:
        wants_gpu = "gpu" in job.get("TresPerJob", "") + job.get("TresPerNode", "")
        assert wants_gpu == bool(rules_of(job) & set(GPU_RULES)), job


def test_jobs_ran_side_by_side(slurm_run):
    _, _, jobs = slurm_run

    def interval(job):
        parse = lambda s: datetime.fromisoformat(s).timestamp()  # noqa: E731
        return parse(job["StartTime"]), parse(job["EndTime"])

    spans = sorted(interval(j) for j in jobs)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans)), spans


def test_jobs_ran_with_the_profiles_thread_counts(slurm_run):
    workdir, _, jobs = slurm_run
    for job in jobs:
        threads = [PROFILE_THREADS[rule] for rule in rules_of(job) if rule in TF_RULES]
        if threads:
            assert int(job["NumCPUs"]) == max(threads), job
    # What TensorFlow itself ran with, as each job's log records it: the threads
    # given (the profile's for saliency, the test's for train), which Snakemake caps
    # at the cores the node really has.
    for rule, log in (
        ("train", "logs/train/resnet50/mae/fold0.log"),
        ("saliency", "logs/saliency/resnet50/mae/fold0/gradient.log"),
    ):
        threads = min(TEST_THREADS[rule], os.cpu_count() or 1)
        assert f"{threads} intra-op thread(s)" in (workdir / log).read_text(), log


def max_relative_difference(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Largest |a - b| / max(|b|, 1) over the numeric columns (same rows and columns)."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    pd.testing.assert_frame_equal(
        a.select_dtypes(exclude="number"), b.select_dtypes(exclude="number")
    )
    x, y = a.select_dtypes("number").to_numpy(float), b.select_dtypes("number").to_numpy(float)
    assert (np.isnan(x) == np.isnan(y)).all()
    with np.errstate(invalid="ignore"):
        return float(np.nanmax(np.abs(x - y) / np.maximum(np.abs(y), 1.0)))


def test_cluster_results_equal_the_local_run(slurm_run, local_run):
    """Same models (same training threads): the MAE table is equal to the last digit;
    the maps come from 2-thread saliency jobs against the local run's 1, so the tables
    made from them agree within float rounding (MAP_ROUNDING_TOLERANCE)."""
    workdir, _, _ = slurm_run
    differences = {}
    for name in ("mae_table.csv", "aopc.csv", "localization.csv"):
        cluster_table = pd.read_csv(workdir / "results" / name)
        local = pd.read_csv(local_run / "results" / name)
        local = local[local["backbone"].isin(CLUSTER_CONFIG["backbones"])]
        local = local[local["loss"].isin(CLUSTER_CONFIG["losses"])]
        differences[name] = max_relative_difference(cluster_table, local.reset_index(drop=True))
    print("max relative difference, cluster vs local:", differences)
    assert differences["mae_table.csv"] == 0.0, differences
    assert max(differences.values()) <= MAP_ROUNDING_TOLERANCE, differences


def test_a_cancelled_job_is_retried_and_leaves_no_half_written_output(slurm_run):
    workdir, _, _ = slurm_run
    target = workdir / "results/perturbation/resnet50/mae/fold1/gradient/shard0.csv"
    process = subprocess.Popen(
        snakemake_slurm(workdir, "--forcerun", str(target.relative_to(workdir))),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cancelled = None
    deadline = time.monotonic() + 600
    while cancelled is None and time.monotonic() < deadline and process.poll() is None:
        for job in slurm_jobs():
            if "perturb" in rules_of(job) and job["JobState"] == "RUNNING":
                subprocess.run(["scancel", job["JobId"]], check=True)
                cancelled = job["JobId"]
                break
        time.sleep(0.3)
    output, _ = process.communicate(timeout=1200)
    assert cancelled, "no perturbation job was seen running"
    assert process.returncode == 0, output[-4000:]
    states = {j["JobId"]: j["JobState"] for j in slurm_jobs()}
    assert states[cancelled] == "CANCELLED"
    # The retry wrote the whole shard; nothing of the cancelled attempt is left.
    rows = pd.read_csv(target)
    assert len(rows) > 0 and rows["step"].max() == 3
    assert not list(target.parent.glob(".*tmp*"))
    assert (workdir / "results" / "aopc_table.csv").exists()


def test_profile_dry_run_on_the_papers_config(tmp_path):
    result = subprocess.run(
        [
            str(SNAKEMAKE),
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(tmp_path),
            "-n",
            "--profile",
            str(REPO / "profiles" / "slurm"),
            "--configfile",
            str(REPO / "config" / "hc18.yaml"),
            "--executor",
            "dryrun",
            "--slurm-no-account",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    for rule in ("train", "train_permuted_labels", "saliency", "robustness_maps"):
        block = text[text.index(f"rule {rule}:") :]
        resources = next(line for line in block.splitlines() if "resources:" in line)
        assert "gpu=1" in resources, resources
    block = text[text.index("rule perturb:") :]
    assert "gpu=" not in next(line for line in block.splitlines() if "resources:" in line)
    # The paper-scale DAG's submissions: one per group (a saliency job and its
    # localization; a sanity_maps job and its comparison; a perturbation shard's
    # random order and analyzers) and one per remaining cluster job; the rest is local.
    stats = dict(re.findall(r"^(\w+)\s+(\d+)$", text[text.index("Job stats:") :], re.M))
    counts = {rule: int(n) for rule, n in stats.items()}
    groups = re.findall(r"Group job (\w+)", text)
    assert groups.count("explain") == counts["saliency"] == counts["localization"]
    assert groups.count("sanity") == counts["sanity_maps"] == counts["sanity_similarity"]
    assert groups.count("perturbation") == counts["random_order"]
    assert counts["perturb"] == counts["random_order"] * len(
        yaml.safe_load((REPO / "config/hc18.yaml").read_text())["analyzers"]
    )
    single = counts["ingest"] + counts["train"] + counts["train_permuted_labels"]
    single += counts["meta_explanation"] + counts["robustness_maps"]
    print(f"hc18: {counts['total']} jobs, {len(groups) + single} submissions")
    assert len(groups) + single < counts["total"] / 5
