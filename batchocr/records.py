"""The shapes of what batchocr writes: page records and memory events.

Both are plain dicts so they pickle across processes (and Ray) and go to
JSONL as they are.  One function per shape keeps the field names in one place.

Their published form is the JSON Schemas in ``batchocr/schemas`` (printed
by ``batchocr schema``): the sink passes every record and event through
``with_every_field``, which gives it every field the schema lists, in the schema's
order, null where it does not apply, so readers (pandas, DuckDB) see the
same columns in every line.  Runs in workers and in the supervisor.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

# run.json's "schema": goes up whenever a field of a record or an event is
# added, removed, renamed or changes type or meaning (and the schemas' $id with it).
SCHEMA_VERSION = 2  # 2: exit events say their kind
SCHEMAS = ("results", "memory")  # results.jsonl records, memory.jsonl events

# Page statuses: one clear state per record.
OK = "ok"
ERROR = "error"  # the page could not be read or recognised, or crashed its worker twice
TIMEOUT = "timeout"  # the page took longer than --timeout; its worker was killed

# How the supervisor's ``exit`` events begin when it killed a worker on
# purpose (output directories of schema 1, before ``kind``, are told apart
# from crashes by these words).
INTERRUPT_KILL = "killed at the end of the interrupt grace period"
PAGE_TIMEOUT_KILL = "page took longer than the timeout"

# An ``exit`` event's ``kind``: the worker finished as planned; it was
# killed over a page past --timeout, or when an interrupt's grace period ran
# out (the user stopped the run); or it crashed (anything else unplanned:
# a signal, a failed rebuild, a deadline missed while recycling or stopping).
FINISHED, CRASH, PAGE_TIMEOUT, INTERRUPTED = "finished", "crash", "timeout", "interrupted"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One page to recognise.  Picklable: sent to workers."""

    path: str  # absolute (as the supervisor found it; may hold surrogate escapes)
    rel: str  # relative to the input directory, for records
    page: int  # 1-based
    pages: int  # pages in the file
    size: int  # file size in bytes at discovery
    mtime_ns: int  # file modification time at discovery


def page_record(
    item: WorkItem,
    *,
    status: str,
    engine: str,
    worker: int | None,
    pid: int | None,
    attempt: int = 1,
    error: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    record = {
        "path": item.rel,
        "page": item.page,
        "pages": item.pages,
        "status": status,
        "text": None,
        "confidence": None,
        "engine": engine,
        "worker": worker,
        "pid": pid,
        "ms": None,
        "error": error,
        "attempt": attempt,
        "size": item.size,
        "mtime_ns": item.mtime_ns,
    }
    record.update(fields)
    return record


def memory_event(
    event: str, *, worker: int, pid: int, images: int, rss_mb: float, run_started: float, **fields: Any
) -> dict[str, Any]:
    """``event`` is one of start, sample, recycle, exit."""
    return {
        "worker": worker,
        "pid": pid,
        "event": event,
        "images": images,
        "rss_mb": round(rss_mb, 1),
        "t": round(time.time() - run_started, 3),
        **fields,
    }


def exit_event(
    worker: int, pid: int | None, cause: str, kind: str, last_event: dict[str, Any], run_started: float
) -> dict[str, Any]:
    """The ``exit`` event the supervisor writes for a worker that could not
    write its own (crashed, killed): its last known numbers and the cause."""
    return {
        "worker": worker,
        "pid": pid,
        "event": "exit",
        "images": last_event.get("images"),
        "rss_mb": last_event.get("rss_mb"),
        "t": round(time.time() - run_started, 3),
        "cause": cause,
        "kind": kind,
    }


@functools.cache
def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``results`` records or ``memory`` events."""
    if name not in SCHEMAS:
        raise ValueError(f"no schema {name!r}: one of {', '.join(SCHEMAS)}")
    return json.loads(resources.files("batchocr").joinpath("schemas", f"{name}.schema.json").read_text("utf-8"))


def with_every_field(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with every field of schema ``name``, in its order, null
    where not set.  A field the schema lacks is kept (at the end): the test
    suite validates every record it writes, so it cannot go unnoticed."""
    full = {key: fields.get(key) for key in schema(name)["properties"]}
    full.update(fields)
    return full
