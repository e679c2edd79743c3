"""The supervisor's state machine, driven by a scripted fake transport.

``FakeTransport`` is a test stand-in (never used by batchocr itself): it
answers commands the way a worker would, or as a test scripts it (late,
never, in the same round as a death), so races that real processes reach
only by chance are reached here every time, in milliseconds.  The real
processes are tested in test_pool_faults.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from batchocr import protocol, supervisor
from batchocr.config import Settings
from batchocr.errors import RunAborted
from batchocr.records import OK, WorkItem, page_record
from batchocr.scheduling import ListSource, Scheduler
from batchocr.supervisor import Supervisor

KILLED = "worker killed by signal 9 (SIGKILL)"


@dataclass(eq=False)
class FakeHandle:
    worker_id: int
    generation: int  # 0 for a slot's first worker, 1 for its replacement, ...
    ended: bool = False
    on_kill: list = field(default_factory=list)  # replies that were "in the pipe" when it was killed
    lingers: bool = False  # after its final reply the process does not end (until killed)


React = Callable[[FakeHandle, protocol.Command], "list | None"]


def ok_reply(handle: FakeHandle, command: protocol.Command) -> list:
    """What a healthy worker answers."""
    if isinstance(command, protocol.Start):
        return [protocol.Ready(pid=1000 + handle.worker_id, events=[{"event": "start"}])]
    if isinstance(command, protocol.Page):
        record = page_record(
            command.item, status=OK, engine="fake", worker=handle.worker_id, pid=1, attempt=command.attempt
        )
        return [protocol.PageDone(record, [])]
    if isinstance(command, protocol.Recycle):
        return [protocol.Recycled([{"event": "recycle"}])]
    return [protocol.Stopped([{"event": "exit", "cause": "finished"}])]


class FakeTransport:
    """Scripted stand-in for a transport (tests only)."""

    start_hint = " (fake)"

    def __init__(self, react: React = ok_reply) -> None:
        self.react = react
        self.pending: list = []
        self.sent: list[tuple[FakeHandle, protocol.Command]] = []
        self.started: list[FakeHandle] = []
        self.killed: list[FakeHandle] = []

    def open(self) -> None:
        pass

    def default_workers(self) -> int:
        return 2

    def start(self, worker_id: int) -> FakeHandle:
        handle = FakeHandle(worker_id, sum(h.worker_id == worker_id for h in self.started))
        self.started.append(handle)
        self.send(handle, protocol.Start())
        return handle

    def send(self, handle: FakeHandle, command: protocol.Command) -> None:
        assert not handle.ended, f"{command} sent to a worker that is gone"
        self.sent.append((handle, command))
        for message in self.react(handle, command) or []:
            self._deliver(handle, message)

    def kill(self, handle: FakeHandle) -> None:
        self.killed.append(handle)
        for message in handle.on_kill:
            self._deliver(handle, message)
        self._deliver(handle, protocol.Exited(KILLED))

    def _deliver(self, handle: FakeHandle, message) -> None:
        if handle.ended:
            return
        self.pending.append((handle, message))
        if isinstance(message, protocol.Exited):
            handle.ended = True
        elif protocol.is_final(message) and not handle.lingers:
            self._deliver(handle, protocol.Exited("exited"))

    def wait(self, timeout: float) -> list:
        if not self.pending:
            time.sleep(min(timeout, 0.005))
        batch, self.pending = self.pending, []
        return batch

    def close(self) -> None:
        pass

    def pages_sent(self) -> list[tuple[FakeHandle, protocol.Page]]:
        return [(h, c) for h, c in self.sent if isinstance(c, protocol.Page)]


class Sink:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.events: list[dict] = []

    def page_done(self, record: dict) -> None:
        self.records.append(record)

    def memory(self, event: dict) -> None:
        self.events.append(event)

    def by_page(self) -> dict[str, list[dict]]:
        pages: dict[str, list[dict]] = {}
        for record in self.records:
            pages.setdefault(record["path"], []).append(record)
        return pages

    def exits(self) -> list[dict]:
        return [e for e in self.events if e.get("event") == "exit" and e.get("cause") != "finished"]


def items(n: int) -> list[WorkItem]:
    return [WorkItem(path=f"/in/p{i}.png", rel=f"p{i}.png", page=1, pages=1, size=1, mtime_ns=1) for i in range(n)]


def run(transport: FakeTransport, pages: int, seconds: float = 20, **settings) -> Sink:
    sink = Sink()
    options = dict(workers=2, timeout=5.0, start_timeout=5.0, retries=1) | settings
    sup = Supervisor(Settings(**options), time.time(), sink, transport)
    started = time.monotonic()
    sup.run(Scheduler(ListSource(items(pages)), retries=options["retries"], engine="fake"))
    assert time.monotonic() - started < seconds, "the run took too long"
    return sink


def assert_each_page_once(sink: Sink, pages: int) -> None:
    by_page = sink.by_page()
    assert sorted(by_page) == sorted(f"p{i}.png" for i in range(pages))
    assert all(len(records) == 1 for records in by_page.values()), by_page


def test_healthy_workers_do_every_page_once_and_stop():
    transport = FakeTransport()
    sink = run(transport, 7)
    assert_each_page_once(sink, 7)
    assert all(r["status"] == OK for r in sink.records)
    assert sum(isinstance(c, protocol.Stop) for _, c in transport.sent) == 2
    assert not transport.killed and not sink.exits()


def test_result_and_death_in_the_same_round_record_the_page_once_and_use_a_fresh_worker():
    def react(handle, command):
        replies = ok_reply(handle, command)
        if isinstance(command, protocol.Page) and handle.worker_id == 1 and handle.generation == 0:
            return replies + [protocol.Exited(KILLED)]  # answered, then died at once
        return replies

    transport = FakeTransport(react)
    sink = run(transport, 6)
    assert_each_page_once(sink, 6)
    assert all(r["status"] == OK for r in sink.records)
    first = transport.started[0]
    assert [c for h, c in transport.sent if h is first and isinstance(c, protocol.Page)] == [
        transport.pages_sent()[0][1]
    ], "nothing may be sent to a worker after it died"
    assert [e["cause"] for e in sink.exits()] == [KILLED]
    assert any(h.worker_id == 1 and h.generation == 1 for h in transport.started)


def test_result_arriving_after_the_deadline_is_recorded_once_not_as_timeout():
    def react(handle, command):
        if isinstance(command, protocol.Page) and command.item.rel == "p0.png":
            record = ok_reply(handle, command)[0].record
            handle.on_kill.append(protocol.PageDone(record, []))  # in the pipe as the kill lands
            return []
        return ok_reply(handle, command)

    transport = FakeTransport(react)
    sink = run(transport, 4, timeout=0.2)
    assert_each_page_once(sink, 4)
    assert sink.by_page()["p0.png"][0]["status"] == OK
    killed = transport.killed[0]
    sent_after = [c for h, c in transport.sent if h is killed][2:]  # Start, Page, then nothing
    assert sent_after == [], "the next page went to a killed worker"


def test_a_page_with_no_answer_times_out_once_and_the_rest_go_on():
    def react(handle, command):
        if isinstance(command, protocol.Page) and command.item.rel == "p1.png":
            return []
        return ok_reply(handle, command)

    sink = run(FakeTransport(react), 5, timeout=0.2)
    assert_each_page_once(sink, 5)
    assert sink.by_page()["p1.png"][0]["status"] == "timeout"
    assert [r["status"] for r in sink.records].count(OK) == 4


def test_a_retry_runs_on_the_fresh_worker_and_is_never_dropped():
    def react(handle, command):
        if isinstance(command, protocol.Page) and command.item.rel == "p0.png" and command.attempt == 1:
            return [protocol.Exited(KILLED)]  # the page killed its worker once
        return ok_reply(handle, command)

    transport = FakeTransport(react)
    sink = run(transport, 3, workers=1)
    assert_each_page_once(sink, 3)
    retried = sink.by_page()["p0.png"][0]
    assert (retried["status"], retried["attempt"]) == (OK, 2)
    fresh = transport.started[1]
    assert isinstance([c for h, c in transport.sent if h is fresh][1], protocol.Page)
    assert [c for h, c in transport.sent if h is fresh][1].item.rel == "p0.png"


def test_a_start_that_never_completes_is_killed_and_three_abort_the_run():
    def react(handle, command):
        return [] if isinstance(command, protocol.Start) else ok_reply(handle, command)

    transport = FakeTransport(react)
    with pytest.raises(RunAborted, match=r"did not start within 0.1 s \(--start-timeout\)"):
        run(transport, 3, workers=1, start_timeout=0.1)
    assert len(transport.killed) == 3


def test_one_slow_starter_does_not_stall_the_run_and_is_not_waited_for_at_the_end():
    # worker 2 never becomes ready (e.g. SIGSTOPped while loading): worker 1 does
    # every page, and worker 2 is ended as soon as no work is left for it
    def react(handle, command):
        if isinstance(command, protocol.Start) and handle.worker_id == 2:
            return []
        return ok_reply(handle, command)

    transport = FakeTransport(react)
    sink = run(transport, 4, start_timeout=60.0, seconds=5)
    assert_each_page_once(sink, 4)
    assert [h.worker_id for h in transport.killed] == [2]


def test_a_hanging_recycle_costs_the_worker_not_the_page():
    def react(handle, command):
        replies = ok_reply(handle, command)
        if isinstance(command, protocol.Page):
            replies[0].recycle = "count"
        if isinstance(command, protocol.Recycle) and handle.generation == 0:
            return []  # free_resources() or the rebuild hangs
        return replies

    transport = FakeTransport(react)
    sink = run(transport, 4, workers=1, start_timeout=0.2)
    assert_each_page_once(sink, 4)
    assert all(r["status"] == OK for r in sink.records)
    assert [e["cause"] for e in sink.exits()] == [
        "engine rebuild took longer than 0.2 s (--start-timeout); worker replaced"
    ]


def test_a_worker_restarting_after_its_recycle_is_replaced_without_an_error():
    def react(handle, command):
        replies = ok_reply(handle, command)
        if isinstance(command, protocol.Page):
            replies[0].recycle = "rss"
        if isinstance(command, protocol.Recycle):
            return [protocol.Recycled([{"event": "recycle", "mode": "restart"}], restart=True)]
        return replies

    transport = FakeTransport(react)
    sink = run(transport, 3, workers=1)
    assert_each_page_once(sink, 3)
    assert not sink.exits()
    assert len(transport.started) == 3  # a fresh process after each of the first two pages


def test_a_worker_that_does_not_stop_is_killed(monkeypatch):
    monkeypatch.setattr(supervisor, "STOP_SECONDS", 0.2)

    def react(handle, command):
        return [] if isinstance(command, protocol.Stop) else ok_reply(handle, command)

    transport = FakeTransport(react)
    sink = run(transport, 2, seconds=5)
    assert_each_page_once(sink, 2)
    assert len(transport.killed) == 2
    assert all("did not exit within" in e["cause"] for e in sink.exits())


def test_a_worker_that_said_it_finished_and_lingers_gets_no_second_exit_event(monkeypatch):
    monkeypatch.setattr(supervisor, "STOP_SECONDS", 0.2)

    def react(handle, command):
        handle.lingers = isinstance(command, protocol.Stop)  # says "finished", then hangs in teardown
        return ok_reply(handle, command)

    transport = FakeTransport(react)
    sink = run(transport, 2, seconds=5)
    assert len(transport.killed) == 2  # killed at the stop deadline...
    exits = [e for e in sink.events if e.get("event") == "exit"]
    assert [e["cause"] for e in exits] == ["finished", "finished"]  # ...but each process has one exit event


def test_ctrl_c_before_any_worker_is_ready_stops_the_run_instead_of_aborting_it():
    """Killing workers that were still loading at an interrupt is no failure
    to start: three of them must not abort the run (exit 4 instead of 130)."""
    box: list[Supervisor] = []

    def react(handle, command):
        if isinstance(command, protocol.Start):
            if len(transport.started) == 3:
                box[0].stop(grace_seconds=0.0)  # Ctrl-C with no grace left, all three still loading
            return []
        return ok_reply(handle, command)

    transport, sink = FakeTransport(react), Sink()
    box.append(Supervisor(Settings(workers=3, start_timeout=60.0), time.time(), sink, transport))
    box[0].run(Scheduler(ListSource(items(5)), retries=1, engine="fake"))  # no RunAborted
    assert len(transport.started) == 3 and len(transport.killed) == 3  # none replaced
    assert sink.records == []


def test_a_stop_before_the_run_begins_hands_out_nothing():
    """A signal between the executor's creation and run() (see Interrupts.stopping)."""
    transport, sink = FakeTransport(), Sink()
    sup = Supervisor(Settings(workers=2), time.time(), sink, transport)
    sup.stop(grace_seconds=0.0)
    sup.run(Scheduler(ListSource(items(5)), retries=1, engine="fake"))
    assert transport.started == [] and sink.records == []  # not even a worker started


def run_interrupted(grace: float, answer: bool, pages: int) -> tuple[FakeTransport, Sink]:
    """One worker; Ctrl-C arrives while the first page is in progress; that
    page is answered (``answer``) or still being worked on."""
    box: list[Supervisor] = []

    def react(handle, command):
        if isinstance(command, protocol.Page):
            box[0].stop(grace_seconds=grace)
            if not answer:
                return []
        return ok_reply(handle, command)

    transport, sink = FakeTransport(react), Sink()
    box.append(Supervisor(Settings(workers=1), time.time(), sink, transport))
    box[0].run(Scheduler(ListSource(items(pages)), retries=1, engine="fake"))
    return transport, sink


def test_an_interrupt_lets_pages_in_progress_finish_and_hands_out_nothing_more():
    transport, sink = run_interrupted(grace=5.0, answer=True, pages=5)
    assert [r["path"] for r in sink.records] == ["p0.png"]
    assert isinstance(transport.sent[-1][1], protocol.Stop)


def test_the_grace_period_ends_with_pages_left_unrecorded_not_failed():
    _, sink = run_interrupted(grace=0.1, answer=False, pages=3)
    assert sink.records == []  # left to do: a resume redoes it
    assert [e["cause"] for e in sink.exits()] == ["killed at the end of the interrupt grace period"]
