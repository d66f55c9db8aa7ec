# syntax=docker/dockerfile:1
# Sen CRM: one image for the API (`sen api`), the worker (`sen worker`) and migrations (`sen migrate`).

# --- builder: a self-contained venv with Sen and its dependencies -------------------------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
# README.m[d]: copied when present (pyproject names it as the readme).
COPY pyproject.toml README.m[d] ./
COPY app/ ./app/
COPY workers/ ./workers/
COPY migrations/ ./migrations/
RUN pip install --upgrade pip && pip install .

# --- runtime --------------------------------------------------------------------------------
FROM python:3.11-slim

# PYTHONPATH=/app: the source tree in /app wins over the copy pip put in site-packages, so that
# app.core.migrate finds /app/alembic.ini and /app/migrations (it resolves them from __file__).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    PYTHONPATH=/app \
    SEN_HOST=0.0.0.0 \
    SEN_DATA_DIR=/data \
    PORT=8000

RUN groupadd --system --gid 10001 sen \
    && useradd --system --uid 10001 --gid sen --home-dir /app --no-create-home --shell /usr/sbin/nologin sen \
    && mkdir -p /app /data \
    && chown sen:sen /data

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY app/ ./app/
COPY workers/ ./workers/
COPY migrations/ ./migrations/
COPY alembic.ini ./
# openapi/ may be empty or absent in a fresh clone; the wildcard tolerates that under BuildKit.
COPY openapi* ./openapi/
RUN mkdir -p /app/openapi

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# The API on one process per core the container may use (its cpuset; a `--cpus` quota is not
# seen): set SEN_API_WORKERS, or pass `--workers N`, to choose. Each process has its own
# database pool (SEN_DB_POOL_SIZE, as many again in a burst).
CMD ["sen", "api", "--host", "0.0.0.0"]
