"""Sen's API as `leads.py` benchmarks it: `app.main:create_app` under uvicorn, one worker, with
the same uvicorn options as `bare_app.py` (uvloop, httptools, no access log).

Configured by environment (set by `leads.py`): BENCH_DATABASE_URL, BENCH_REDIS_URL,
BENCH_PORT, plus Sen's own SEN_SECRET_KEY / SEN_DATA_DIR / SEN_LOG_LEVEL. Run alone with:

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/sen_bench \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/15 BENCH_PORT=8000 \
        .venv/bin/python scripts/bench/sen_app.py
"""

from __future__ import annotations

import os

import uvicorn

from app.main import create_app


def main() -> None:
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
