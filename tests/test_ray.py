"""The Ray executor (``--executor ray``): same records as the local pool, same faults handled.

Every run is a real ``python -m batchocr run`` subprocess.  The samples test
starts its own local Ray instance (no ``--ray-address``); the fault tests
join one small cluster started once for this module (``ray_cluster``), as a
user joins an existing cluster: its actors get their environment (PYTHONPATH
with the fake engines, FAULT_*) from the cluster, not from the driver.
"""

from __future__ import annotations

import importlib.util
import secrets
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import psutil
import pytest
from conftest import SAMPLES, batchocr_env, fault_engine

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray not installed: bash scripts/setup.sh dev")
pytestmark = pytest.mark.ray
FAKE = fault_engine("FakeEngine")
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
        [sys.executable, "-c", CLUSTER_HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=state,
        env=batchocr_env(state, FAULT_SLEEP=CLUSTER_SLEEP, **auth),
    )
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

    ok = {
        executor: {(r["path"], r["page"]) for r in run.results() if r["status"] == "ok"}
        for executor, run in (("ray", ray_run), ("local", local_run))
    }
    assert ok["ray"] == ok["local"] and len(ok["ray"]) >= 10
    assert ray_run.pages() == local_run.pages()  # each page once, in both
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
def test_a_run_joins_an_existing_cluster_whose_actors_do_the_pages(ray_cluster, run_batchocr, fake_pages):
    """The fault tests run over both executors with a local Ray (test_pool_faults.py,
    test_worker_lifecycle.py); this one joins a cluster, as users with one do."""
    names = [f"p{i}.png" for i in range(6)]
    result = run_batchocr(fake_pages(names), *FAKE, "--workers", "2", *ray_cluster.args(), env=ray_cluster.env)
    assert result.returncode == 0, result.stderr
    assert result.pages() == Counter({(n, 1): 1 for n in names})
    driver_children = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not {r["pid"] for r in result.results()} & driver_children  # the cluster's processes did them
    assert result.run_info()["settings"]["ray_address"] == ray_cluster.address


# --- without Ray ---------------------------------------------------------------------


def test_missing_ray_is_a_usage_error_naming_the_extra(tmp_path, fake_pages):
    """No Ray needed: the import is made to fail."""
    code = "import sys; sys.modules['ray'] = None; from batchocr.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", str(fake_pages(["a.png"])), "-o", str(tmp_path / "out"), *FAKE]
        + ["--executor", "ray"],
        capture_output=True,
        text=True,
        timeout=60,
        env=batchocr_env(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr
    assert "-m pip install 'ray>=2.9' (from a checkout: bash scripts/setup.sh ray)" in proc.stderr
