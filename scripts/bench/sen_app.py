"""Sen's API as `leads.py` benchmarks it: `app.main:create_app` under uvicorn, one worker, with
the same uvicorn options as `bare_app.py` (uvloop, httptools, no access log).

Configured by environment (set by `leads.py`): BENCH_DATABASE_URL, BENCH_REDIS_URL,
BENCH_PORT, plus Sen's own SEN_SECRET_KEY / SEN_DATA_DIR / SEN_LOG_LEVEL. Run alone with:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sen_bench \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 BENCH_PORT=8000 \
        .venv/bin/python scripts/bench/sen_app.py

BENCH_WITHOUT_OUTBOX=1 (for `events.py` only) serves the same Sen with the domain events left
out, to measure what the outbox costs: a variant built here for the comparison, never a switch
in app/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import uvicorn

from app.main import create_app


def leave_out_the_outbox() -> None:
    """Sen as it was before domain events: the record's INSERT and UPDATE keep their history
    row but lose the event row's CTE, their parameters lose the event's (and the dispatcher's
    nudge, which `event_values` asks for), and history entries made through the ORM emit
    nothing. Patched before the app builds any statement (each is built once, lazily)."""
    from app.core import history, records

    def without_event_row(build: Callable[..., Any]) -> Callable[..., Any]:
        def built(*args: Any) -> Any:
            stmt = build(*args)
            kept = [
                (cte, opts)
                for cte, opts in zip(
                    stmt._independent_ctes, stmt._independent_ctes_opts, strict=True
                )
                if cte.name != "emitted"
            ]
            stmt._independent_ctes = tuple(cte for cte, _ in kept)
            stmt._independent_ctes_opts = tuple(opts for _, opts in kept)
            return stmt

        return built

    records._insert_with_history = without_event_row(records._insert_with_history)  # type: ignore[assignment]
    records._update_with_history = without_event_row(records._update_with_history)  # type: ignore[assignment]
    records.event_values = lambda *args, **kwargs: {}  # type: ignore[assignment]
    history.emit = lambda *args, **kwargs: None  # type: ignore[assignment]


def main() -> None:
    if os.environ.get("BENCH_WITHOUT_OUTBOX") == "1":
        leave_out_the_outbox()
    app = create_app(
        db_url=os.environ["BENCH_DATABASE_URL"], queue_url=os.environ["BENCH_REDIS_URL"]
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("BENCH_PORT", "8000")),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        log_config=None,
    )


if __name__ == "__main__":
    main()
