"""A real single-node SLURM (slurmctld + slurmd + munged) for the tests.

Debian's slurm-wlm and munge are installed with apt when missing (as root).
The node offers one GPU backed by /dev/null so GPU requests are accepted; it
sits in two partitions (`debug`, the default, and `gpu`), as a site routes
GPU jobs to a partition of their own.
Accounting is off, so the executor plugin must use squeue for job status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")


class ClusterUnavailableError(RuntimeError):
    """SLURM cannot be started here (not root, not Debian, apt failed...)."""


def _run(*command: str, timeout: int = 600) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise ClusterUnavailableError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return result.stdout


def install() -> None:
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ClusterUnavailableError("slurm-wlm is missing and apt-get as root is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, check=False, timeout=900
        )
        if result.returncode != 0:
            raise ClusterUnavailableError(f"{' '.join(command)}: {result.stderr[-2000:]}")


@dataclass
class Cluster:
    """A running single-node cluster; `env` is what SLURM's client commands need."""

    root: Path
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    munged_pid: int | None = None

    def stop(self) -> None:
        for name in ("slurm.conf", "gres.conf"):
            path = CONF_DIR / name
            if path.exists() and path.read_text().startswith(MARKER):
                path.unlink()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.munged_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.munged_pid, 15)


# The node offers the profile's thread counts (train 4, saliency 2) to jobs side by
# side, whatever this machine has; slurmd accepts more CPUs than it sees through
# `config_overrides`, and without task binding the threads share the real cores.
NODE_CPUS = 8
MARKER = "# written by the hcxai tests (tests/slurm/cluster.py); removed when they end"
# srun inside a job reads the config from here: the jobstep plugin drops SLURM_CONF.
CONF_DIR = Path("/etc/slurm")
SLURM_CONF = """\
ClusterName=hcxai-test
SlurmctldHost={host}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=7200
KillWait=5
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName={host} CPUs={cpus} RealMemory={memory} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(root: Path, timeout: float = 90) -> Cluster:
    """Install if needed, configure under `root`, start the daemons, wait for an idle node."""
    if os.geteuid() != 0:
        raise ClusterUnavailableError("starting slurmctld/slurmd needs root")
    install()
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    for name in ("slurm.conf", "gres.conf"):
        existing = CONF_DIR / name
        if existing.exists() and not existing.read_text().startswith(MARKER):
            raise ClusterUnavailableError(f"{existing} belongs to this site; not overwriting it")
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CONF_DIR / "slurm.conf").write_text(
        MARKER
        + "\n"
        + SLURM_CONF.format(
            host=host,
            root=root,
            cpus=max(NODE_CPUS, os.cpu_count() or 1),
            memory=int(memory_mb * 0.9),
            ctld_port=_free_port(),
            d_port=_free_port(),
        )
    )
    (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nNodeName={host} Name=gpu File=/dev/null\n")
    env = {**os.environ, "SLURM_CONF": str(CONF_DIR / "slurm.conf")}
    cluster = Cluster(root, env)
    # munge: a key, its run directory, the daemon.
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        _run("mungekey", "--create", "--keyfile", str(key))
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    pid_file = run_dir / "munged.pid"
    if not (pid_file.exists() and Path(f"/proc/{pid_file.read_text().strip()}").exists()):
        _run("runuser", "-u", "munge", "--", "/usr/sbin/munged")
        cluster.munged_pid = int(pid_file.read_text().strip())
    try:
        for daemon in ("slurmctld", "slurmd"):
            log = open(root / f"{daemon}.out", "w")  # noqa: SIM115 - lives as long as the daemon
            cluster.processes.append(
                subprocess.Popen(
                    [f"/usr/sbin/{daemon}", "-D"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for process in cluster.processes:
                if process.poll() is not None:
                    raise ClusterUnavailableError(
                        f"{process.args[0]} exited: {(root / 'slurmctld.log').read_text()[-2000:]}"
                    )
            result = subprocess.run(
                ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env, check=False
            )
            state = result.stdout.strip()
            if state == "idle":
                return cluster
            time.sleep(1)
        raise ClusterUnavailableError(f"node not idle after {timeout} s (state {state!r})")
    except BaseException:
        cluster.stop()
        raise
