"""Bring a real one-node SLURM cluster up and down for tests, and read what it ran.

Wraps ``scripts/slurm/start-local-cluster.sh`` and ``stop-local-cluster.sh`` (see
``scripts/slurm/README.md``). Every subprocess call has a timeout.

Typical use in a test module::

    import pytest
    from slurm_helpers import ClusterUnavailable, completed_jobs, start_cluster, stop_cluster

    @pytest.fixture(scope="module")
    def slurm_cluster(tmp_path_factory):
        try:
            info = start_cluster(tmp_path_factory.mktemp("slurm"))
        except ClusterUnavailable as err:
            pytest.skip(f"no local SLURM cluster: {err.reason}")
        yield info
        stop_cluster(info)

Then run Snakemake with ``env=info.env`` and ``--profile profiles/slurm-local-test``
inside ``timeout -k 10 <limit>`` and check ``completed_jobs(info, work_dir=...)``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_SCRIPT = REPO / "scripts" / "slurm" / "start-local-cluster.sh"
STOP_SCRIPT = REPO / "scripts" / "slurm" / "stop-local-cluster.sh"
DAEMONS = ("munged", "slurmctld", "slurmd")

# "Key=value Key2=value two" -> keys start a word and may contain ':' and '/'
# (scontrol prints e.g. "AllocNode:Sid=..." and "CPUs/Task=1").
_KEY = re.compile(r"(?:^|\s)([A-Za-z][\w:/]*)=")


class ClusterUnavailable(RuntimeError):
    """This machine cannot host the test cluster (not root, no Debian/apt, apt failed).

    Tests should ``pytest.skip(err.reason)``; anything else that goes wrong raises
    ``ClusterError`` and should fail the test.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ClusterError(RuntimeError):
    """The cluster could have run here but did not start or stop properly."""


@dataclass
class ClusterInfo:
    """Where a running test cluster lives and how to talk to it.

    Attributes:
        state_dir: Everything of this cluster (config, state, logs, pid files) is below it.
        conf: Its slurm.conf; also linked from /etc/slurm/slurm.conf while it runs.
        jobcomp: SLURM's completion log (``JobCompType=jobcomp/filetxt``), one line per
            finished job.
        log_dir: Daemon logs (munged.log, slurmctld.log, slurmd.log) and ``jobcomp``.
        env: ``os.environ`` plus ``SLURM_CONF``: pass it to every subprocess.
        partition: The only partition (``debug``).
        node: The only node (this machine's short host name).
        pids: Daemon name -> pid, as recorded when the cluster came up.
        start_seconds: Wall time of the start script.
        start_output: What the start script printed (stderr), for debugging.
    """

    state_dir: Path
    conf: Path
    jobcomp: Path
    log_dir: Path
    env: dict = field(repr=False)
    partition: str = "debug"
    node: str = ""
    pids: dict = field(default_factory=dict)
    start_seconds: float = 0.0
    start_output: str = field(default="", repr=False)


def _script_env(state_dir: Path, timeout: float) -> dict:
    env = dict(os.environ)
    env["SLURM_LOCAL_DIR"] = str(state_dir)
    env["SLURM_LOCAL_TIMEOUT"] = str(max(5, int(timeout)))
    env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run cmd in its own process group; on timeout kill the whole group, then re-raise."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
        raise subprocess.TimeoutExpired(cmd, timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _read_pids(state_dir: Path) -> dict:
    pids = {}
    for name in DAEMONS:
        try:
            pids[name] = int((state_dir / "run" / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            pass
    return pids


def start_cluster(state_dir: str | os.PathLike | None = None, timeout: float = 120) -> ClusterInfo:
    """Start (or reuse) the one-node test cluster and wait until its node is idle.

    Args:
        state_dir: Directory for all of the cluster's files; default /var/lib/slurm-local.
            A pytest ``tmp_path`` works. Only one such cluster runs at a time (fixed ports,
            one /etc/slurm/slurm.conf link).
        timeout: Seconds for the whole start, Debian package installation included (about
            11 s when the packages are missing, under 1 s when they are present).

    Returns:
        ClusterInfo of the running cluster.

    Raises:
        ClusterUnavailable: not root, no dpkg/apt, or apt-get failed (skip the test).
        ClusterError: the start script failed or timed out (fail the test); a timed-out
            start is stopped again before raising.
    """
    if os.name != "posix" or not hasattr(os, "geteuid"):
        raise ClusterUnavailable("needs Linux")
    if os.geteuid() != 0:
        raise ClusterUnavailable("needs root (apt-get and the SLURM daemons)")
    if shutil.which("dpkg-query") is None:
        raise ClusterUnavailable("needs Debian (dpkg/apt) to install SLURM")
    state = Path(state_dir if state_dir is not None else "/var/lib/slurm-local").resolve()
    env = _script_env(state, min(60, timeout))
    began = time.monotonic()
    try:
        proc = _run(["bash", str(START_SCRIPT)], timeout=timeout, env=env)
    except subprocess.TimeoutExpired as err:
        _run(["bash", str(STOP_SCRIPT)], timeout=60, env=env)
        raise ClusterError(
            f"start-local-cluster.sh did not finish within {timeout} s:\n{err.stderr or ''}"
        ) from None
    if proc.returncode == 2:
        lines = [line for line in proc.stderr.splitlines() if "ERROR" in line] or [proc.stderr]
        raise ClusterUnavailable(lines[-1].replace("[start-local-cluster] ERROR: ", "").strip())
    if proc.returncode != 0:
        raise ClusterError(f"start-local-cluster.sh exited {proc.returncode}:\n{proc.stderr}")
    conf = state / "etc" / "slurm.conf"
    client_env = dict(os.environ)
    client_env["SLURM_CONF"] = str(conf)
    return ClusterInfo(
        state_dir=state,
        conf=conf,
        jobcomp=state / "log" / "jobcomp.txt",
        log_dir=state / "log",
        env=client_env,
        node=os.uname().nodename.split(".")[0],
        pids=_read_pids(state),
        start_seconds=time.monotonic() - began,
        start_output=proc.stderr,
    )


def alive_daemons(info: ClusterInfo) -> dict:
    """Daemon name -> pid for those of ``info.pids`` still running their SLURM/munge binary."""
    alive = {}
    for name, pid in info.pids.items():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        want = os.path.realpath(f"/usr/sbin/{name}")
        if exe in (want, f"{want} (deleted)"):
            alive[name] = pid
    return alive


def stop_cluster(info: ClusterInfo, timeout: float = 60) -> None:
    """Stop the daemons recorded in ``info`` (by pid) and wait until they are gone.

    Queued or running jobs are cancelled first. Raises ClusterError if the stop script fails
    or times out, or if any daemon started for ``info`` is still alive afterwards.
    """
    env = _script_env(info.state_dir, max(5, timeout / 3))
    try:
        proc = _run(["bash", str(STOP_SCRIPT)], timeout=timeout, env=env)
    except subprocess.TimeoutExpired as err:
        raise ClusterError(
            f"stop-local-cluster.sh did not finish within {timeout} s:\n{err.stderr or ''}"
        ) from None
    left = alive_daemons(info)
    if proc.returncode != 0 or left:
        raise ClusterError(
            f"stop-local-cluster.sh exited {proc.returncode}; still alive: {left}\n{proc.stderr}"
        )


def parse_key_values(line: str) -> dict:
    """Parse one ``Key=value Key2=value`` line (jobcomp/filetxt, ``scontrol -o``) into a dict."""
    matches = list(_KEY.finditer(line))
    fields = {}
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        end = nxt.start() if nxt is not None else len(line)
        fields[m.group(1)] = line[m.end() : end].strip()
    return fields


def scontrol_jobs(info: ClusterInfo, timeout: float = 30) -> dict:
    """Job id -> fields of ``scontrol -o show job`` for every job slurmctld still remembers.

    The test cluster keeps finished jobs for a day (``MinJobAge=86400``). Useful fields that
    the completion log lacks: ``Comment`` (Snakemake writes ``rule_<rule>[_wildcards_...]`` or
    ``rule_<group>_<rules>``), ``TresPerJob`` (``gres:gpu:1`` for ``--gpus=1``),
    ``TresPerNode`` (``gres:gpu:fake:1`` for ``--gres``), ``StdOut`` (the Snakemake SLURM log
    under ``.snakemake/slurm_logs/<rule_or_group>/``).
    """
    proc = _run(["scontrol", "-o", "show", "job"], timeout=timeout, env=info.env)
    if proc.returncode != 0:
        if "No jobs in the system" in proc.stdout + proc.stderr:
            return {}
        raise ClusterError(f"scontrol show job failed: {proc.stderr}")
    jobs = {}
    for line in proc.stdout.splitlines():
        if line.strip():
            fields = parse_key_values(line)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
    return jobs


def completed_jobs(
    info: ClusterInfo, work_dir: str | os.PathLike | None = None, timeout: float = 30
) -> list[dict]:
    """SLURM's own record of finished jobs, from its completion log, oldest first.

    Args:
        info: The running (or stopped) cluster.
        work_dir: Keep only jobs whose working directory (``sbatch -D``; Snakemake passes
            the workflow's working directory) is this one.
        timeout: For the ``scontrol`` call that adds details while slurmctld runs.

    Returns:
        One dict per finished job (array tasks are separate jobs), with keys:
        ``job_id``, ``name`` (Snakemake: the run's UUID, the same for all jobs of one run),
        ``state`` (COMPLETED, FAILED, TIMEOUT, CANCELLED, ...), ``exit_code`` ("0:0"),
        ``partition``, ``work_dir``, ``tres`` (allocated: "cpu=1,mem=2000M,node=1,billing=1";
        GPUs are NOT listed there without slurmdbd), ``array_job_id`` and
        ``array_task_id`` (or None), ``start``, ``end``, ``raw`` (all fields); and, when
        slurmctld still answers, ``comment``, ``tres_per_job``, ``tres_per_node``,
        ``std_out`` (else None), plus ``gpus`` = whichever of ``tres_per_job`` /
        ``tres_per_node`` names a gres (e.g. "gres:gpu:1") or None.
    """
    try:
        text = info.jobcomp.read_text()
    except FileNotFoundError:
        return []
    details = {}
    if alive_daemons(info).get("slurmctld"):
        try:
            details = scontrol_jobs(info, timeout=timeout)
        except (ClusterError, subprocess.TimeoutExpired):
            details = {}
    want_dir = str(Path(work_dir).resolve()) if work_dir is not None else None
    jobs = []
    for line in text.splitlines():
        if not line.strip():
            continue
        raw = parse_key_values(line)
        if want_dir is not None and raw.get("WorkDir") != want_dir:
            continue
        extra = details.get(raw.get("JobId", ""), {})

        def _opt(key, src=extra):
            value = src.get(key)
            return None if value in (None, "", "(null)", "N/A") else value

        tres_per_job, tres_per_node = _opt("TresPerJob"), _opt("TresPerNode")
        gpus = next((t for t in (tres_per_job, tres_per_node) if t and "gpu" in t), None)
        jobs.append(
            {
                "job_id": raw.get("JobId"),
                "name": raw.get("Name"),
                "state": raw.get("JobState"),
                "exit_code": raw.get("ExitCode"),
                "partition": raw.get("Partition"),
                "work_dir": raw.get("WorkDir"),
                "tres": raw.get("Tres"),
                "array_job_id": _opt("ArrayJobId", raw),
                "array_task_id": _opt("ArrayTaskId", raw),
                "start": raw.get("StartTime"),
                "end": raw.get("EndTime"),
                "comment": _opt("Comment"),
                "tres_per_job": tres_per_job,
                "tres_per_node": tres_per_node,
                "gpus": gpus,
                "std_out": _opt("StdOut"),
                "raw": raw,
            }
        )
    return jobs


def queued_jobs(info: ClusterInfo, timeout: float = 30) -> list[str]:
    """Ids of jobs still pending, running or completing (should be [] after a workflow)."""
    proc = _run(
        ["squeue", "-h", "-o", "%i", "-t", "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING"],
        timeout=timeout,
        env=info.env,
    )
    if proc.returncode != 0:
        raise ClusterError(f"squeue failed: {proc.stderr}")
    return proc.stdout.split()
