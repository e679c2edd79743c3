"""The Ray executor (``--executor ray``): same records as the local pool, same faults handled.

Every run is a real ``python -m batchocr run`` subprocess.  The samples test
starts its own local Ray instance (no ``--ray-address``); the fault tests
join one small cluster started once for this module (``ray_cluster``), as a
user joins an existing cluster: its actors get their environment (PYTHONPATH
with the fake engines, FAULT_*) from the cluster, not from the driver.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

import psutil
import pytest

from conftest import SAMPLES, RunResult, batchocr_env, read_jsonl

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray not installed: pip install 'batchocr[ray]'")
pytestmark = pytest.mark.ray
FAKE = ("--engine", "fault_engines:FakeEngine")
CLUSTER_SLEEP = "0.2"  # FAULT_SLEEP of the fake engine on the module's cluster: seconds per page

# Holds a local Ray cluster until its stdin closes; prints the address to join.
CLUSTER_HOLDER = """
import sys, ray
ray.init(address="local", num_cpus=2, object_store_memory=100 * 1024 * 1024,
         include_dashboard=False, logging_level="ERROR", log_to_driver=False)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""


def pages_of(result: RunResult) -> Counter:
    return Counter((r["path"], r["page"]) for r in result.results())


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]  # what a driver joining it needs: the cluster's auth token

    def args(self) -> tuple[str, ...]:
        return ("--executor", "ray", "--ray-address", self.address)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A 2-CPU Ray cluster that outlives the runs joining it, with its own auth token."""
    state = tmp_path_factory.mktemp("ray-cluster")
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    holder = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, cwd=state,
        env=batchocr_env(state, FAULT_SLEEP=CLUSTER_SLEEP, **auth),
    )  # fmt: skip
    address = holder.stdout.readline().strip()
    assert address, "the Ray cluster did not start"
    yield Cluster(address, auth)
    holder.stdin.close()  # the holder shuts Ray down and exits
    try:
        holder.wait(timeout=60)
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.wait()


# --- a local Ray instance, the real engine, the samples ------------------------------


@needs_ray
def test_samples_give_the_same_pages_as_the_local_pool(run_batchocr, tmp_path):
    args = ("--workers", "2", "--recycle-every", "2")
    ray_run = run_batchocr(SAMPLES, *args, "--executor", "ray", out_dir=tmp_path / "ray")
    local_run = run_batchocr(SAMPLES, *args, "--executor", "local", out_dir=tmp_path / "local")
    assert ray_run.returncode == 0, ray_run.stderr
    assert local_run.returncode == 0, local_run.stderr

    ok = {executor: {(r["path"], r["page"]) for r in run.results() if r["status"] == "ok"}
          for executor, run in (("ray", ray_run), ("local", local_run))}  # fmt: skip
    assert ok["ray"] == ok["local"] and len(ok["ray"]) >= 10
    assert pages_of(ray_run) == pages_of(local_run)  # each page once, in both
    assert {r["worker"] for r in ray_run.results()} == {1, 2}
    assert all(r["engine"] == "tesseract" and r["text"] for r in ray_run.results())

    memory = ray_run.memory()
    recycles = [e for e in memory if e["event"] == "recycle"]
    assert {e["worker"] for e in recycles} == {1, 2}
    assert all(e["reason"] == "count" and e["mode"] == "in-process" for e in recycles)
    assert {e["worker"] for e in memory if e["event"] == "start"} == {1, 2}
    assert {e["worker"] for e in memory if e["event"] == "exit" and e["cause"] == "finished"} == {1, 2}
    assert ray_run.run_info()["settings"]["executor"] == "ray"


# --- faults, on an existing cluster (--ray-address) -----------------------------------


@needs_ray
def test_killed_actor_loses_nothing(ray_cluster, tmp_path, fake_pages):
    names = [f"p{i:02d}.png" for i in range(30)]
    in_dir, out_dir = fake_pages(names), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchocr", "run", str(in_dir), "-o", str(out_dir), *FAKE,
         "--workers", "2", "--quiet", *ray_cluster.args()],
        env=batchocr_env(tmp_path, **ray_cluster.env), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victim = _actor_pid_after_results(out_dir, proc, results=3)
    os.kill(victim, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    records = read_jsonl(out_dir / "results.jsonl")
    assert Counter((r["path"], r["page"]) for r in records) == Counter({(n, 1): 1 for n in names})
    assert all(r["status"] == "ok" for r in records)
    retried = [r for r in records if r["attempt"] == 2]
    assert len(retried) == 1 and retried[0]["pid"] != victim  # the page in hand, on a fresh actor
    memory = read_jsonl(out_dir / "memory.jsonl")
    lost = [e for e in memory if e["event"] == "exit" and e["pid"] == victim]
    assert len(lost) == 1 and "died" in lost[0]["cause"]
    replacement = [e for e in memory if e["event"] == "start" and e["worker"] == lost[0]["worker"]]
    assert len({e["pid"] for e in replacement}) == 2  # the slot keeps its worker id


@needs_ray
def test_poison_page_is_retried_once_then_recorded(ray_cluster, run_batchocr, fake_pages):
    names = ["a.png", "b-crash.png", "c.png", "d.png", "e.png"]
    result = run_batchocr(
        fake_pages(names), *FAKE, "--workers", "2", *ray_cluster.args(), env=ray_cluster.env, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert pages_of(result) == Counter({(n, 1): 1 for n in names})
    records = {r["path"]: r for r in result.results()}
    poison = records.pop("b-crash.png")
    assert (poison["status"], poison["error_kind"], poison["attempt"]) == ("error", "crash", 2)
    assert "died" in poison["error"] and "tried 2 times" in poison["error"]
    assert all(r["status"] == "ok" for r in records.values())
    crashes = [e for e in result.memory() if e["event"] == "exit" and "died" in (e.get("cause") or "")]
    assert len(crashes) == 2  # the first try and the retry each killed an actor
    assert "b-crash.png" in result.stderr


@needs_ray
def test_hanging_page_times_out_and_others_finish(ray_cluster, run_batchocr, fake_pages):
    names = ["a.png", "b-hang.png", "c.png", "d.png"]
    started = time.monotonic()
    result = run_batchocr(
        fake_pages(names), *FAKE, "--workers", "2", "--timeout", "2",
        *ray_cluster.args(), env=ray_cluster.env, timeout=120,
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 1, result.stderr
    records = {r["path"]: r for r in result.results()}
    assert records["b-hang.png"]["status"] == "timeout"
    assert "timeout of 2 s" in records["b-hang.png"]["error"]
    assert [records[n]["status"] for n in ("a.png", "c.png", "d.png")] == ["ok"] * 3


@needs_ray
def test_worker_asking_for_a_restart_gets_a_fresh_actor(ray_cluster, run_batchocr, fake_pages):
    names = [f"p{i:02d}.png" for i in range(6)]
    result = run_batchocr(
        fake_pages(names), "--engine", "fault_engines:LeakyFakeEngine", "--workers", "1",
        "--max-worker-rss", "150", "--recycle-every", "0",
        *ray_cluster.args(), env=ray_cluster.env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pages_of(result) == Counter({(n, 1): 1 for n in names})
    memory = result.memory()
    restarts = [e for e in memory if e["event"] == "recycle" and e["mode"] == "restart"]
    starts = [e for e in memory if e["event"] == "start"]
    assert restarts and all(e["reason"] == "rss" for e in restarts)
    assert len({e["pid"] for e in restarts}) == len(restarts)  # one restart per process
    # a fresh process after every restart but one after the last page
    assert len({e["pid"] for e in starts}) == len(starts) >= len(restarts)
    assert max(e["rss_mb"] for e in starts) < 150  # and each starts small again
    assert {e["worker"] for e in starts} == {1}


# --- without Ray ---------------------------------------------------------------------


def test_missing_ray_is_a_usage_error_naming_the_extra(tmp_path, fake_pages):
    """No Ray needed: the import is made to fail."""
    code = "import sys; sys.modules['ray'] = None; from batchocr.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", str(fake_pages(["a.png"])), "-o", str(tmp_path / "out"), *FAKE,
         "--executor", "ray"],
        capture_output=True, text=True, timeout=60, env=batchocr_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'batchocr[ray]'" in proc.stderr


def _actor_pid_after_results(out_dir, proc, results: int, timeout: float = 60) -> int:
    """A live actor's pid (from memory.jsonl start events) once ``results`` pages are done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "run ended before the kill"
        done, memory = _tolerant(out_dir / "results.jsonl"), _tolerant(out_dir / "memory.jsonl")
        if len(done) >= results:
            busy = {r["pid"] for r in done}
            for event in reversed(memory):
                if event["event"] == "start" and event["pid"] in busy and psutil.pid_exists(event["pid"]):
                    return event["pid"]
        time.sleep(0.05)
    raise AssertionError("no actor produced results in time")


def _tolerant(path):
    try:
        return read_jsonl(path)
    except ValueError:  # a line being written right now
        return []

