"""Settings from the environment: `SEN_*` variables, plus DATABASE_URL, REDIS_URL and PORT."""

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, AwareDatetime, BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_origins(value: object) -> object:
    """SEN_CORS_ORIGINS is a comma-separated list of SPA origins."""
    if isinstance(value, str):
        return [origin.strip() for origin in value.split(",") if origin.strip()]
    return value


def _split_seconds(value: object) -> object:
    """SEN_WEBHOOK_RETRY_SECONDS is a comma-separated list of pauses, in seconds."""
    if isinstance(value, str):
        return [float(part) for part in value.split(",") if part.strip()]
    return value


# Standard Webhooks' usual schedule: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
WEBHOOK_RETRY_SECONDS = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


MAX_API_WORKERS = 64


def _cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one), capped."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_API_WORKERS))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEN_", extra="ignore")

    data_dir: Path = Path(".sen")
    # Unset: embedded servers under data_dir. Same code path either way; only the URL differs.
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "SEN_PORT"))
    host: str = "127.0.0.1"
    # API processes sharing the port (`sen api` / `sen serve`; --workers overrides it).
    api_workers: int = Field(default_factory=_cores, ge=1, le=MAX_API_WORKERS)

    secret_key: str | None = None
    access_token_minutes: int = 60 * 12
    signup_enabled: bool = True
    cors_origins: Annotated[list[str], NoDecode, BeforeValidator(_split_origins)] = []
    max_body_bytes: int = 1024 * 1024
    idempotency_hours: int = 24
    log_level: str = "INFO"
    # How long the worker may stay down (Redis gone) before `serve` / `worker` give up and exit
    # non-zero, so whoever runs them restarts the process or pages someone.
    worker_restart_seconds: float = Field(300, gt=0)
    # Jobs one worker process runs at once (each holds one database connection while it runs).
    worker_jobs: int = Field(16, ge=1, le=200)
    # /readyz also requires the worker's heartbeat. Off for an API whose readiness gates its
    # traffic while workers are watched on their own, and for apps that run without a worker.
    readyz_checks_worker: bool = True

    # The API's database connections: how many (and as many again in a burst), how long a
    # request waits for one, and how long one statement may run (then 503, never a 500).
    db_pool_size: int = 20
    db_pool_timeout_seconds: float = 5.0
    statement_timeout_ms: int = 5000
    # The database is a Citus coordinator: each transaction's workspace setting is sent as
    # statements of their own, which Citus forwards to the shards (docs/deploy-citus.md).
    database_citus: bool = False
    # Text searches of one workspace running at once in one API process (0: no cap), then 429.
    heavy_requests_per_workspace: int = 8

    # Abuse limits (0 turns a rate limit off: offices share one IP, test suites sign up a lot).
    login_attempts_per_email: int = 10  # failed logins per email in 15 minutes, then 429
    auth_requests_per_ip: int = 60  # sign-ups, logins, invitations per client IP a minute
    api_keys_per_user: int = 20  # live keys
    invitation_days: int = 7
    # /metrics answers only `Authorization: Bearer <this>`; unset, it is not served at all.
    metrics_token: str | None = None

    # Intake: where the public reaches Sen (e.g. https://crm.minhphat.vn), how many posts one
    # client address may send one form a minute (then 429; 0: off), how long raw payloads are
    # kept, and when a submission still waiting is handed to the worker again.
    public_url: str | None = None
    intake_posts_per_minute: int = 20
    # Look-ups of keys no form has, per client address a minute (key guessing), then 429.
    intake_unknown_keys_per_minute: int = 30
    intake_payload_days: int = 90
    intake_retry_after_seconds: int = 120
    # Ad platforms' webhooks: posts one client address may send one integration a minute
    # (platforms batch and retry from few addresses, so it is far above a form's; 0: off).
    intake_webhooks_per_minute: int = 600
    # Meta's Graph API, where the worker fetches each lead a Lead Ads webhook announces: how
    # long one call may take, how many tries a lead gets when Graph fails or is slow (then the
    # submission is `failed`), and the first pause between tries (doubled each time, at most
    # an hour).
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_timeout_seconds: float = Field(10.0, gt=0)
    meta_fetch_tries: int = Field(8, ge=1, le=30)
    meta_retry_seconds: float = Field(30.0, ge=0)

    # Live notifications: a heartbeat comment this often on each stream (proxies close idle
    # connections), and how many streams one user may hold open in one API process (then 429).
    notification_heartbeat_seconds: float = Field(15, gt=0)
    notification_streams_per_user: int = Field(5, ge=1)

    # Exports: how long a finished export's file can be downloaded, then it is deleted.
    export_ttl_hours: int = Field(24, ge=1, le=24 * 90)

    # Imports (.xlsx / .csv): the largest file taken, the most data rows, and how far a
    # workbook may expand when unzipped (a zip bomb is refused before it is read).
    import_max_bytes: int = Field(20 * 1024 * 1024, ge=1)
    import_max_rows: int = Field(100_000, ge=1)
    import_max_unzipped_bytes: int = Field(500 * 1024 * 1024, ge=1)
    # Rows an import job saves per transaction: its progress is committed with each batch.
    import_batch_rows: int = Field(200, ge=1, le=5000)
    # Domain events (GET /events, what webhooks and workflows are handed) are kept this long.
    events_keep_days: int = Field(30, ge=1, le=3650)
    # Workflow runs a worker carries per transaction (app/automations/runner.py): more share
    # their commits; fewer hold their records' locks for less time.
    workflow_runs_per_batch: int = Field(50, ge=1, le=500)
    # The clock date and schedule workflows fire by (app/core/clock.py): unset, the real time;
    # tests stop it at a moment to see a birthday come.
    clock_at: AwareDatetime | None = None

    # Emails: how many tries an email gets when the SMTP server may take it later (a 4xx
    # answer, a refused or timed-out connection), then `failed`; the first pause between tries
    # (doubled each time, at most an hour).
    email_send_tries: int = Field(5, ge=1, le=20)
    email_retry_seconds: float = Field(60.0, ge=0)
    # Outbound webhooks: whether a receiver may be on a loopback, private, link-local or
    # other non-public address (on-premise installs and tests; never on a shared server, where
    # it would let a workspace reach the machine's own network), the pauses before each retry
    # of a failed delivery (then it is `failed`), how long one attempt may take in all, and
    # how much of a receiver's answer is read (the rest is never read).
    webhook_allow_private: bool = False
    webhook_retry_seconds: Annotated[
        list[Annotated[float, Field(ge=0)]], NoDecode, BeforeValidator(_split_seconds)
    ] = Field(default_factory=lambda: list(WEBHOOK_RETRY_SECONDS), max_length=20)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    webhook_response_bytes: int = Field(64 * 1024, ge=0, le=1024 * 1024)

    def public_base_url(self) -> str:
        """Where websites and browsers reach this API (form snippets and hosted pages link
        here): SEN_PUBLIC_URL, else the address it serves on."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def jwt_secret(self) -> str:
        """The signing key: SEN_SECRET_KEY, or one generated once and kept under data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:  # created 0600 and exclusively: two processes starting at once share one key
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key


@lru_cache
def get_settings() -> Settings:
    return Settings()
