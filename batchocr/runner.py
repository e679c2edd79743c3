"""The coordinator: check, discover, run, record, summarise.  Supervisor side.

Order matters: the engine's preflight and the model check happen before
any worker starts, so a missing model costs nothing but a clear message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import batchocr
from batchocr import plural
from batchocr.assembly import Assembler
from batchocr.config import Settings
from batchocr.engines import engine_class
from batchocr.errors import ConfigError, ExitCode, NoPages, RunAborted, exit_code_for_signal
from batchocr.executors import make_executor
from batchocr.interrupts import INTERRUPTS
from batchocr.inventory import check_models
from batchocr.ledger import LEDGER
from batchocr.output import RESULTS, RUN_INFO, OutputLock, write_json_atomic
from batchocr.progress import Progress
from batchocr.records import OK, SCHEMA_VERSION, TIMEOUT
from batchocr.resume import Resume, finish_resume, move_aside, open_resume
from batchocr.scheduling import Scheduler
from batchocr.sink import SHOWN_FAILURES, OutputSink, RunCounts


def run(input_dir: str, settings: Settings, restart: bool = False, drop_missing: bool = False) -> ExitCode:
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
        return _run_locked(input_dir, out_dir, settings, engine, inventory, warnings, restart, drop_missing)
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


def _run_locked(
    input_dir, out_dir: Path, settings: Settings, engine, inventory, warnings, restart, drop_missing
) -> ExitCode:
    try:
        moved = move_aside(out_dir) if restart else None
        if moved:
            print(f"batchocr: --restart: earlier outputs moved to {moved}", file=sys.stderr)
        previous_runs = _previous_runs(out_dir)
        resume = open_resume(input_dir, out_dir, settings, engine, inventory)  # exit 2: another input's dir
    except OSError as exc:
        where = exc.filename or out_dir
        raise ConfigError(f"cannot prepare the run in {out_dir}: {where}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:  # e.g. a damaged ledger: --restart starts over, moving it aside
        raise ConfigError(
            f"cannot use the run ledger {out_dir / LEDGER}: {exc}; --restart starts over (moving it aside)"
        ) from None
    try:
        return _run_resumed(
            input_dir, out_dir, settings, engine, inventory, warnings, moved, previous_runs, resume, drop_missing
        )
    finally:
        resume.ledger.close()


def _run_resumed(
    input_dir,
    out_dir: Path,
    settings: Settings,
    engine,
    inventory,
    warnings,
    moved,
    previous_runs,
    resume: Resume,
    drop_missing: bool,
) -> ExitCode:
    for warning in resume.warnings:
        print(f"batchocr: warning: {warning}", file=sys.stderr)
    info = _run_info(input_dir, out_dir, settings, engine, inventory, resume)
    info["previous_runs"] = previous_runs
    info["previous_outputs_moved_to"] = str(moved) if moved else None
    info["warnings"] = [*warnings, *resume.warnings]
    progress = Progress(
        settings, engine.name, enabled=not settings.quiet and sys.stderr.isatty()
    )  # no bar in a cron log
    counts = RunCounts(progress, settings.max_failed_share)
    source = resume.source(on_found=progress.found)
    source.start()
    if source.stats.complete and not source.stats.pages:  # before any output is created
        source.close()
        progress.close(leave=False)
        skipped = sum(source.stats.skipped_by_kind.values())
        raise NoPages(
            f"no pages found under {os.path.abspath(input_dir)} ({plural.count(skipped, 'file')} there, none an image "
            "or PDF); is it the right directory, and is it mounted?"
        )
    formats = settings.output_formats()
    assembler = Assembler(resume.ledger, input_dir, out_dir, out_dir / RESULTS, formats) if formats else None
    sink = OutputSink(
        out_dir, resume.ledger, resume.stamp, resume.fingerprint, counts, info["started_epoch"], assembler
    )
    executor = make_executor(settings, info["started_epoch"], sink)
    info["run"] = sink.run_id
    pending = source.remaining()  # known once a small discovery has ended
    # no more workers than pages to do: none at all when an earlier run did every page
    info["workers"] = settings.resolved_workers() if pending is None else min(settings.resolved_workers(), pending)
    write_json_atomic(out_dir / RUN_INFO, info)
    with INTERRUPTS.stopping(executor, settings.grace_seconds):
        _execute(executor, settings, engine, source, sink, info, progress, resume, drop_missing)
        code = _exit_code(counts, INTERRUPTS.signum, source.stats)
        info["exit_code"] = int(code)
        _write_run_info_best_effort(out_dir, info)
        _print_summary(info, counts, out_dir)
    return code


def _execute(
    executor, settings, engine, source, sink: OutputSink, info, progress: Progress, resume: Resume, drop_missing: bool
) -> None:
    """Run every page to do through the executor; always flush and record how it ended."""
    sink.counts.on_too_many_failures = lambda message: executor.stop(settings.grace_seconds)
    executor.on_tick = progress.tick
    try:
        executor.run(Scheduler(source, settings.retries, engine.name))
        if INTERRUPTS.signum is None and not sink.counts.too_many_failures:
            source.finish_discovery()  # nothing was to do in the rest: account for it
            sink.write_missing_outputs(stop_requested=lambda: INTERRUPTS.signum is not None)
            if source.stats.complete and not source.stats.todo and source.stats.pages:
                progress.nothing_to_do(source.stats.skipped_ok)
    except BaseException as exc:  # run.json says how it ended, whatever happened
        if isinstance(exc, RunAborted):
            info["aborted"], info["exit_code"] = str(exc), int(exc.exit_code)
        else:
            info["aborted"], info["exit_code"] = f"internal error: {exc!r}", int(ExitCode.INTERNAL)
        raise
    finally:
        source.close()
        progress.close()
        try:
            sink.close(finish_outputs=INTERRUPTS.signum is None)
        except OSError:
            pass  # reported above; the lines written so far are whole
        if sink.assembler is not None:
            info["outputs"] = {"formats": list(sink.assembler.formats), **sink.assembler.stats.to_json()}
        info["resume"] = _finish_resume_best_effort(resume, source, sink, drop_missing)
        _finish_run_info(info, sink.counts, source.stats, INTERRUPTS.signal_name)
        _write_run_info_best_effort(Path(info["output_dir"]), info)


def _finish_resume_best_effort(resume: Resume, source, sink: OutputSink, drop_missing: bool) -> dict[str, Any]:
    try:
        return finish_resume(resume, source.stats, sink, drop_missing)
    except OSError as exc:  # e.g. no room to compact: the next run compacts
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"batchocr: warning: after the run, cannot compact {RESULTS} or drop what is gone{where}: "
            f"{exc.strerror or exc}; the next run tries again",
            file=sys.stderr,
        )
        return {"error": str(exc)}


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
    keep = ("run", "schema", "started", "ended", "status", "counts", "exit_code", "pages_per_second")
    return [*old.get("previous_runs", []), {k: old.get(k) for k in keep}]


def _exit_code(counts: RunCounts, signum: int | None, stats) -> ExitCode:
    if signum is not None:
        return exit_code_for_signal(signum)
    if stats.complete and not stats.pages:  # a large input whose discovery outlasted the start
        return ExitCode.NO_PAGES
    return ExitCode.PAGES_FAILED if counts.failed else ExitCode.OK


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _run_info(input_dir, out_dir, settings, engine, inventory, resume: Resume) -> dict[str, Any]:
    return {
        "batchocr": batchocr.__version__,
        "schema": SCHEMA_VERSION,  # of results.jsonl and memory.jsonl lines: batchocr schema results|memory
        "status": "running",
        "input_dir": os.path.abspath(input_dir),
        "output_dir": str(out_dir),
        "settings": dataclasses.asdict(settings),
        "workers": settings.resolved_workers(),
        "engine": {"name": engine.name, "version": engine.version(), "library": engine.library_version()},
        "fingerprint": {"id": resume.stamp["fingerprint"], **resume.fingerprint_settings},
        "models": inventory.to_json(settings.old_model_prefix),
        "host": {"hostname": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "started": _now(),
        "started_epoch": time.time(),
        "run": None,  # set below: the id tagging this run's lines
        "adopted": resume.adopted,
    }


def _finish_run_info(info: dict[str, Any], counts: RunCounts, found, signal_name: str | None) -> None:
    elapsed = time.time() - info["started_epoch"]
    done_now = sum(counts.counts.values())
    info.update(
        status=_status(info, counts, signal_name),
        stopped_early=counts.too_many_failures,
        interrupted=bool(signal_name),
        signal=signal_name,
        ended=_now(),
        seconds=round(elapsed, 3),
        files=found.files,
        pages=found.pages,
        discovery_complete=found.complete,
        discovery_seconds=round(found.completed_at - info["started_epoch"], 3) if found.completed_at else None,
        discovery_problems=[{"path": p, "problem": m} for p, m in found.problems],
        discovery_problem_count=found.problem_count,
        skipped={
            "files": sum(found.skipped_by_kind.values()),
            "by_extension": dict(found.skipped_by_kind.most_common()),
            "listed": [{"path": p, "reason": r} for p, r in found.skipped],
        },
        counts={
            "pages": found.pages,
            "done_this_run": done_now,
            "skipped_already_ok": found.skipped_ok,
            "ok": counts.counts[OK] + found.skipped_ok,
            "failed": counts.failed,
            "timeout": counts.counts[TIMEOUT],
            "low_confidence": counts.low_confidence,
            "not_done": max(0, found.todo - done_now),
            "new": found.new,
            "redone_failed_before": found.failed_before,
            "redone_file_changed": found.file_changed,
            "redone_settings_changed": dict(found.settings_changed),
            "vanished_pages": found.vanished_pages,
        },
        pages_per_second=round(done_now / elapsed, 3) if elapsed > 0 else None,
    )


def _status(info: dict[str, Any], counts: RunCounts, signal_name: str | None) -> str:
    if signal_name:
        return "interrupted"
    if "aborted" in info:
        return "aborted"
    return "stopped-early" if counts.too_many_failures else "finished"


def _print_summary(info: dict[str, Any], counts: RunCounts, out_dir: Path) -> None:
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
        f"batchocr: {_now()} run {info['run']}: {plural.count(c['pages'], 'page')} in {plural.count(info['files'], 'file')}: "
        f"{', '.join(parts)}; {info['seconds']:.1f} s, {info['pages_per_second'] or 0:.2f} pages/s, "
        f"{plural.count(info['workers'], 'worker') if info['workers'] else 'no worker needed'} -> {out_dir / RESULTS}"
    )
    print(line, file=sys.stderr)
    for line in _resume_lines(info):
        print(f"  {line}", file=sys.stderr)
    if counts.too_many_failures:
        print(f"  {counts.too_many_failures}", file=sys.stderr)
    skipped = info["skipped"]["by_extension"]
    if skipped:
        kinds = ", ".join(f"{n} {ext}" for ext, n in list(skipped.items())[:5])
        more = ", ..." if len(skipped) > 5 else ""
        total = plural.count(info["skipped"]["files"], "file")
        print(f"  {total} skipped: {kinds}{more}; see skipped in {out_dir / RUN_INFO}", file=sys.stderr)
    for failure in counts.failures:
        print(f"  {failure['status']}: {failure['path']} page {failure['page']}: {failure['error']}", file=sys.stderr)
    if counts.failed > len(counts.failures):
        print(f'  ... and {counts.failed - len(counts.failures)} more (status != "ok" in {RESULTS})', file=sys.stderr)
    for line in _output_lines(info.get("outputs"), out_dir):
        print(f"  {line}", file=sys.stderr)
    for problem in info["discovery_problems"][:SHOWN_FAILURES]:
        print(f"  skipped: {problem['path']}: {problem['problem']}", file=sys.stderr)
    if info.get("exit_code") == ExitCode.NO_PAGES:
        print(
            f"batchocr: no pages found under {info['input_dir']} (none of its files is an image or PDF); "
            "is it the right directory, and is it mounted?",
            file=sys.stderr,
        )


def _resume_lines(info: dict[str, Any]) -> list[str]:
    """Why pages were redone, and what is gone."""
    c, resume = info["counts"], info.get("resume") or {}
    lines = [f"{n} pages redone: settings changed ({why})" for why, n in c["redone_settings_changed"].items()]
    if c["redone_file_changed"]:
        lines.append(f"{c['redone_file_changed']} pages redone: file changed")
    if c["redone_failed_before"]:
        lines.append(f"{c['redone_failed_before']} pages that failed before tried again (after the new ones)")
    if c["vanished_pages"]:
        lines.append(f"{c['vanished_pages']} pages dropped: their file has fewer pages now")
    gone = resume.get("gone_pages")
    if gone:
        files = ", ".join(resume.get("gone_files", []))
        verb = "kept; --drop-missing drops them"
        if resume.get("gone_not_dropped"):
            verb = f"kept, not dropped: {resume['gone_not_dropped']}, so they may be there still"
        elif resume.get("gone_dropped"):
            removed = resume.get("gone_outputs_removed") or 0
            verb = "records dropped (--drop-missing)" + (f", {removed} of their outputs removed" if removed else "")
            if resume.get("gone_outputs_not_removed"):
                verb += f", {resume['gone_outputs_not_removed']} could not be (permissions?)"
        lines.append(f"{gone} pages of files no longer present ({verb}): {files}")
    if resume.get("lost_records"):
        lines.append(f"{resume['lost_records']} records were cut from {RESULTS} during the run: run again to redo them")
    return lines


def _output_lines(outputs: dict[str, Any] | None, out_dir: Path) -> list[str]:
    """What --formats wrote, which files hold failed pages, what could not be written."""
    if not outputs:
        return []
    written = ", ".join(f"{name} {outputs['written'].get(name, 0)}" for name in outputs["formats"])
    lines = [f"outputs: {plural.count(outputs['files'], 'file')} written this run ({written}) -> {out_dir}/<format>/"]
    failed = outputs["files_with_failed_pages"]
    if failed:
        more = ", ..." if failed > len(outputs["failed_files"]) else ""
        lines.append(
            f"{plural.count(failed, 'file')} with failed pages (empty pages in the outputs; a re-run retries them): "
            + ", ".join(outputs["failed_files"])
            + more
        )
    if outputs["errors"]:
        lines.append(f"{outputs['errors']} outputs could not be written (a re-run tries again):")
        lines += [f"  {error}" for error in outputs["error_list"]]
    return lines
