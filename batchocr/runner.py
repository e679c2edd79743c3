"""The coordinator: check, discover, run, record, summarise.  Supervisor side.

Order matters: the engine's preflight and the model check happen before
any worker starts, so a missing model costs nothing but a clear message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

import batchocr
from batchocr.config import Settings
from batchocr.discovery import Discovery, discover
from batchocr.engines import engine_class
from batchocr.errors import ConfigError, ExitCode, NoPages, RunAborted, exit_code_for_signal
from batchocr.executors import make_executor
from batchocr.interrupts import INTERRUPTS
from batchocr.inventory import check_models
from batchocr.output import MEMORY, RESULTS, RUN_INFO, JsonlWriter, OutputLock, write_json_atomic
from batchocr.records import OK, TIMEOUT
from batchocr.resume import ResumePlan, move_aside, plan_resume
from batchocr.scheduling import ListSource, Scheduler

SHOWN_FAILURES = 10  # failures listed by path in the summary
MIN_PAGES_FOR_FAILED_SHARE = 20  # judge the failure share only after this many pages


class OutputSink:
    """Receives records from the executor: writes them and counts them."""

    def __init__(self, out_dir: Path, progress: tqdm, run_started: float, max_failed_share: float = 1.0) -> None:
        self.run_started = run_started
        self.max_failed_share = max_failed_share
        self.on_too_many_failures = lambda message: None  # set by the runner
        self.too_many_failures: str | None = None
        # Tags every line, so runs resumed into the same files stay apart.
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(run_started))}-{os.getpid()}"
        self.results = JsonlWriter(out_dir / RESULTS)
        self.memory_log = JsonlWriter(out_dir / MEMORY)
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self.failures: list[dict[str, Any]] = []
        self.low_confidence = 0  # pages read under the low_confidence threshold

    def page_done(self, record: dict[str, Any]) -> None:
        record["t"] = round(time.time() - self.run_started, 3)  # when it was recorded
        record["run"] = self.run_id
        self.results.write(record)
        self.counts[record["status"]] += 1
        self.low_confidence += bool(record.get("low_confidence"))
        if record["status"] != OK:
            self.failures.append(
                {k: record.get(k) for k in ("path", "page", "status", "error")}
            )
            self.progress.set_postfix(failed=len(self.failures), refresh=False)
            self._check_failed_share()
        self.progress.update(1)

    def _check_failed_share(self) -> None:
        done = sum(self.counts.values())
        share = len(self.failures) / done
        if self.too_many_failures or done < MIN_PAGES_FOR_FAILED_SHARE or share <= self.max_failed_share:
            return
        self.too_many_failures = (
            f"stopped early: {len(self.failures)} of the {done} pages done failed ({share:.0%}, "
            f"above max_failed_share {self.max_failed_share:.0%}); look at the errors, then re-run to resume"
        )
        self.on_too_many_failures(self.too_many_failures)

    def memory(self, event: dict[str, Any]) -> None:
        event["run"] = self.run_id
        self.memory_log.write(event)

    def close(self) -> None:
        self.results.close()
        self.memory_log.close()


def run(input_dir: str, settings: Settings, restart: bool = False) -> ExitCode:
    engine = engine_class(settings.engine)
    if not os.path.isdir(input_dir):
        raise ConfigError(f"input directory not found: {input_dir}")
    out_dir = Path(settings.output_dir).resolve()
    engine.preflight(settings)
    inventory = check_models(settings)  # exit 3 before any worker starts
    warnings = engine.run_warnings(settings) + _setting_warnings(settings)
    for warning in warnings:
        print(f"batchocr: warning: {warning}", file=sys.stderr)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = OutputLock(out_dir)
        locked = lock.acquire()
    except OSError as exc:
        raise ConfigError(f"cannot use output directory {out_dir}: {exc.strerror or exc}") from None
    if not locked:
        raise ConfigError(f"output directory {out_dir} is in use by a running batchocr (pid {lock.holder()})")
    try:
        return _run_locked(input_dir, out_dir, settings, engine, inventory, warnings, restart)
    finally:
        lock.release()


def _setting_warnings(settings: Settings) -> list[str]:
    cpus = os.cpu_count() or 1
    if settings.executor == "local" and settings.workers > cpus:
        return [
            f"{settings.workers} workers on {cpus} CPUs: each engine uses one core, so workers beyond "
            f"{cpus} add memory, not speed"
        ]
    return []


def _run_locked(input_dir, out_dir: Path, settings: Settings, engine, inventory, warnings, restart) -> ExitCode:
    try:
        moved = move_aside(out_dir) if restart else None
        if moved:
            print(f"batchocr: --restart: earlier outputs moved to {moved}", file=sys.stderr)
        previous_runs = _previous_runs(out_dir)
        found = discover(input_dir, exclude=[str(out_dir)])
        if not found.items:
            skipped = sum(found.skipped_by_kind.values())
            raise NoPages(
                f"no pages found under {os.path.abspath(input_dir)} ({_count(skipped, 'file')} there, none an image "
                "or PDF); is it the right directory, and is it mounted?"
            )
        plan = plan_resume(out_dir, found.items)
    except OSError as exc:
        where = exc.filename or out_dir
        raise ConfigError(f"cannot prepare the run in {out_dir}: {where}: {exc.strerror or exc}") from None
    workers = min(settings.resolved_workers(), max(1, len(plan.todo)))

    info = _run_info(input_dir, out_dir, settings, engine, inventory, found, workers)
    info["resume"] = {
        "skipped_ok": plan.skipped_ok,
        "redo": plan.redo,
        "dropped_lines": plan.dropped_lines,
        "previous_outputs_moved_to": str(moved) if moved else None,
    }
    info["previous_runs"] = previous_runs
    info["warnings"] = warnings
    progress = tqdm(
        total=len(plan.todo),
        unit="page",
        file=sys.stderr,
        dynamic_ncols=True,
        disable=settings.quiet or not sys.stderr.isatty(),
    )
    progress.set_postfix(failed=0, refresh=False)
    sink = OutputSink(out_dir, progress, info["started_epoch"], settings.max_failed_share)
    executor = make_executor(settings, info["started_epoch"], sink)
    info["run"] = sink.run_id
    write_json_atomic(out_dir / RUN_INFO, info)
    with INTERRUPTS.stopping(executor, settings.grace_seconds):
        _execute(executor, settings, engine, plan, sink, info, progress)
        code = _exit_code(sink, INTERRUPTS.signum)
        info["exit_code"] = int(code)
        _write_run_info_best_effort(out_dir, info)
        _print_summary(info, sink, found, out_dir)
    return code


def _execute(executor, settings, engine, plan: ResumePlan, sink: OutputSink, info, progress) -> None:
    """Run every page to do through the executor; always flush and record how it ended."""
    sink.on_too_many_failures = lambda message: executor.stop(settings.grace_seconds)
    try:
        executor.run(Scheduler(ListSource(plan.todo), settings.retries, engine.name))
    except BaseException as exc:  # run.json says how it ended, whatever happened
        if isinstance(exc, RunAborted):
            info["aborted"], info["exit_code"] = str(exc), int(exc.exit_code)
        else:
            info["aborted"], info["exit_code"] = f"internal error: {exc!r}", int(ExitCode.INTERNAL)
        raise
    finally:
        progress.close()
        try:
            sink.close()
        except OSError:
            pass  # reported above; the lines written so far are whole
        _finish_run_info(info, sink, plan, INTERRUPTS.signal_name)
        _write_run_info_best_effort(Path(info["output_dir"]), info)


def _write_run_info_best_effort(out_dir: Path, info: dict[str, Any]) -> None:
    try:
        write_json_atomic(out_dir / RUN_INFO, info)
    except OSError as exc:  # atomic: the previous run.json stays whole
        print(f"batchocr: warning: cannot update {out_dir / RUN_INFO}: {exc.strerror or exc}", file=sys.stderr)


def _previous_runs(out_dir: Path) -> list[dict[str, Any]]:
    """Keep the history of resumed runs: run.json is replaced by each run."""
    try:
        old = json.loads((out_dir / RUN_INFO).read_text())
    except (OSError, ValueError):
        return []
    keep = ("run", "started", "ended", "status", "counts", "exit_code", "pages_per_second")
    return [*old.get("previous_runs", []), {k: old.get(k) for k in keep}]


def _exit_code(sink: OutputSink, signum: int | None) -> ExitCode:
    if signum is not None:
        return exit_code_for_signal(signum)
    return ExitCode.PAGES_FAILED if sink.failures else ExitCode.OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_info(input_dir, out_dir, settings, engine, inventory, found: Discovery, workers) -> dict[str, Any]:
    return {
        "batchocr": batchocr.__version__,
        "status": "running",
        "input_dir": os.path.abspath(input_dir),
        "output_dir": str(out_dir),
        "settings": dataclasses.asdict(settings),
        "workers": workers,
        "engine": {"name": engine.name, "version": engine.version()},
        "models": inventory.to_json(settings.old_model_prefix),
        "host": {"hostname": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "started": _now(),
        "started_epoch": time.time(),
        "run": None,  # set below: the id tagging this run's lines
        "files": found.files,
        "pages": len(found.items),
        "discovery_problems": [{"path": p, "problem": m} for p, m in found.problems],
        "skipped": {
            "files": sum(found.skipped_by_kind.values()),
            "by_extension": dict(found.skipped_by_kind.most_common()),
            "listed": [{"path": p, "reason": r} for p, r in found.skipped],
        },
    }


def _finish_run_info(info: dict[str, Any], sink: OutputSink, plan: ResumePlan, signal_name: str | None) -> None:
    elapsed = time.time() - info["started_epoch"]
    done_now = sum(sink.counts.values())
    ok = sink.counts[OK] + plan.skipped_ok
    info.update(
        status=_status(info, sink, signal_name),
        stopped_early=sink.too_many_failures,
        interrupted=bool(signal_name),
        signal=signal_name,
        ended=_now(),
        seconds=round(elapsed, 3),
        counts={
            "pages": info["pages"],
            "done_this_run": done_now,
            "skipped_already_ok": plan.skipped_ok,
            "ok": ok,
            "failed": done_now - sink.counts[OK],
            "timeout": sink.counts[TIMEOUT],
            "low_confidence": sink.low_confidence,
            "not_done": len(plan.todo) - done_now,
        },
        pages_per_second=round(done_now / elapsed, 3) if elapsed > 0 else None,
    )


def _status(info: dict[str, Any], sink: OutputSink, signal_name: str | None) -> str:
    if signal_name:
        return "interrupted"
    if "aborted" in info:
        return "aborted"
    return "stopped-early" if sink.too_many_failures else "finished"


def _print_summary(info: dict[str, Any], sink: OutputSink, found: Discovery, out_dir: Path) -> None:
    c = info["counts"]
    parts = [f"{c['ok']} ok", f"{c['failed']} failed"]
    if c["skipped_already_ok"]:
        parts.insert(1, f"{c['skipped_already_ok']} of them done by an earlier run")
    if c["timeout"]:
        parts.append(f"{c['timeout']} of them timed out")
    if c.get("low_confidence"):
        parts.append(f"{c['low_confidence']} low-confidence (see batchocr report)")
    if c["not_done"]:
        parts.append(f"{c['not_done']} not done (run again to resume)")
    line = (
        f"batchocr: {_now()} run {info['run']}: {_count(c['pages'], 'page')} in {_count(info['files'], 'file')}: "
        f"{', '.join(parts)}; {info['seconds']:.1f} s, {info['pages_per_second'] or 0:.2f} pages/s, "
        f"{_count(info['workers'], 'worker')} -> {out_dir / RESULTS}"
    )
    print(line, file=sys.stderr)
    if sink.too_many_failures:
        print(f"  {sink.too_many_failures}", file=sys.stderr)
    if found.skipped_by_kind:
        kinds = ", ".join(f"{n} {ext}" for ext, n in found.skipped_by_kind.most_common(5))
        more = ", ..." if len(found.skipped_by_kind) > 5 else ""
        total = _count(sum(found.skipped_by_kind.values()), "file")
        print(f"  {total} skipped: {kinds}{more}; see skipped in {out_dir / RUN_INFO}", file=sys.stderr)
    for failure in sink.failures[:SHOWN_FAILURES]:
        print(f"  {failure['status']}: {failure['path']} page {failure['page']}: {failure['error']}", file=sys.stderr)
    if len(sink.failures) > SHOWN_FAILURES:
        print(f"  ... and {len(sink.failures) - SHOWN_FAILURES} more (status != \"ok\" in {RESULTS})", file=sys.stderr)
    for path, problem in found.problems[:SHOWN_FAILURES]:
        print(f"  skipped: {path}: {problem}", file=sys.stderr)
