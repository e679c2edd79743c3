"""batchocr: a worker-pool batch OCR processor.

Layout (one module per responsibility):

- ``cli``        click commands (``run``, ``models``); parsing only.
- ``config``     the one ``Settings`` dataclass and how file, environment and
                 command line are merged into it.
- ``discovery``  walking the input directory, streaming, file by file.
- ``ledger``     the run ledger (SQLite): what is to do and done, with which
                 settings; ``ledger_source`` feeds the scheduler from it while
                 discovery goes on; ``fingerprint`` says what settings a page's
                 text depends on; ``resume`` opens and closes its books.
- ``decoding``   Pillow decoding with a pixel budget (runs in workers).
- ``engines``    the ``Engine`` interface and one module per OCR engine.
- ``inventory``  the coordinator's model check.
- ``worker``     what a worker does with a page: decode, recognise, measure,
                 recycle.  Shared by every executor.
- ``pool``       the local process pool that starts, feeds and replaces
                 workers (the supervisor side).
- ``output``     JSONL and run.json writers (only the supervisor writes);
                 ``results`` keeps results.jsonl and the ledger in step;
                 ``sink`` receives records and memory events from executors.
- ``runner``     the coordinator: check, discover, run, summarise.
"""

__version__ = "0.1.0"
