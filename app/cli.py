"""`sen`: serve, api, worker, migrate, openapi, create-workspace, embedded, citus."""

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import structlog
import typer
from pydantic import ValidationError

from app import serving
from app.core import citus, embedded
from app.core.settings import MAX_API_WORKERS, get_settings
from app.serving import ApiProcessDied, ApiSpec, CannotListen

cli = typer.Typer(help="Sen CRM", no_args_is_help=True, add_completion=False)
embedded_cli = typer.Typer(help="The embedded PostgreSQL and Redis", no_args_is_help=True)
cli.add_typer(embedded_cli, name="embedded")

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


async def _urls() -> tuple[str, str]:
    from app.core.runtime import database_url, redis_url

    settings = get_settings()
    return await database_url(settings), await redis_url(settings)


async def _migrate(url: str) -> None:
    from app.core.migrate import upgrade

    await upgrade(url)


async def _supervised_worker(db_url: str, queue_url: str) -> None:
    from workers.supervisor import run_supervised

    await run_supervised(db_url, queue_url, give_up_after=get_settings().worker_restart_seconds)


def _exit_if_worker_failed(outcome: BaseException | None, then: str) -> None:
    """The worker's task ended on its own: say why in one line, and exit non-zero so that a
    process manager restarts the process (and a person hears of it)."""
    from workers.supervisor import WorkerGaveUp

    if outcome is None or isinstance(outcome, asyncio.CancelledError):
        return
    log = structlog.get_logger("sen.cli")
    if isinstance(outcome, WorkerGaveUp):
        log.error(f"worker could not be brought back; {then}", reason=str(outcome))
    else:
        log.error(f"worker failed; {then}", exc_info=outcome)
    raise typer.Exit(1)


def _exit_on_sigterm() -> None:
    """uvicorn re-raises the signal that stopped it once it is done; with SIGTERM's default
    action that kills the process before `serve` can stop the embedded servers. Raising
    SystemExit instead unwinds through every `finally`."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


WorkersOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=MAX_API_WORKERS,
        help="API processes sharing the port (default: $SEN_API_WORKERS, or one per core)",
        show_default=False,
    ),
]


async def _serve_api(spec: ApiSpec, workers: int, until: asyncio.Task[None] | None) -> None:
    """The API on `workers` processes (1: in this process), until a signal or `until` ends.
    An API process that dies ends the command with code 1."""
    if workers == 1:
        server = serving.api_server(spec)
        if until is not None:
            until.add_done_callback(lambda _: setattr(server, "should_exit", True))
        await server.serve()  # returns on Ctrl-C / SIGTERM, or when should_exit is set
        return
    try:
        await serving.serve_processes(spec, workers, until=until)
    except ApiProcessDied as died:
        structlog.get_logger("sen.cli").error("an API process died; exiting", reason=str(died))
        raise typer.Exit(1)
    except CannotListen as error:
        structlog.get_logger("sen.cli").error(str(error))
        raise typer.Exit(1)


@cli.command()
def serve(
    port: Annotated[int | None, typer.Option(help="HTTP port (default: $PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    workers: WorkersOption = None,
) -> None:
    """Everything in one process tree: embedded servers if needed, migrations, the API (on
    --workers processes), and one worker."""
    from app.core.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    processes = workers or settings.api_workers
    _exit_on_sigterm()

    async def main() -> None:
        db_url, queue_url = await _urls()
        await _migrate(db_url)
        spec = ApiSpec(db_url, queue_url, host or settings.host, port or settings.port)
        typer.echo(
            f"Sen is serving http://{spec.host}:{spec.port} (API docs at /docs) on "
            f"{processes} process{'es' if processes > 1 else ''}, with its worker; "
            "Ctrl-C stops it",
            err=True,
        )
        # One worker, whatever the number of API processes. A worker given up on takes the API
        # down with it: an API whose reminders and automations silently stopped is worse than
        # one that is visibly gone.
        worker = asyncio.create_task(_supervised_worker(db_url, queue_url))
        try:
            await _serve_api(spec, processes, until=worker)
        finally:
            worker.cancel()
            (outcome,) = await asyncio.gather(worker, return_exceptions=True)
        _exit_if_worker_failed(outcome, "stopping the API")

    try:
        asyncio.run(main())
    finally:
        if not settings.database_url:
            embedded.stop_postgres(settings.data_dir)
        if not settings.redis_url:
            embedded.stop_redis(settings.data_dir)


@cli.command()
def api(
    port: Annotated[int | None, typer.Option(help="HTTP port (default: $PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    workers: WorkersOption = None,
) -> None:
    """The API alone, on --workers processes sharing the port (production: beside `sen
    worker`). Exits with code 1 when one of its processes dies."""
    from app.core.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)

    async def main() -> None:
        db_url, queue_url = await _urls()
        spec = ApiSpec(db_url, queue_url, host or settings.host, port or settings.port)
        await _serve_api(spec, workers or settings.api_workers, until=None)

    asyncio.run(main())


@cli.command()
def worker() -> None:
    """The arq worker alone: jobs and cron schedules. Exits non-zero when Redis stays away
    longer than SEN_WORKER_RESTART_SECONDS."""
    from app.core.observability import configure_logging

    configure_logging(get_settings().log_level)

    async def main() -> None:
        db_url, queue_url = await _urls()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = asyncio.create_task(_supervised_worker(db_url, queue_url))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        worker.cancel()
        (outcome,) = await asyncio.gather(worker, return_exceptions=True)
        _exit_if_worker_failed(outcome, "exiting")

    asyncio.run(main())


@cli.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""

    async def main() -> None:
        db_url, _ = await _urls()
        await _migrate(db_url)

    asyncio.run(main())
    typer.echo("database is at head")


citus_cli = typer.Typer(help="Running on a Citus cluster", no_args_is_help=True)
cli.add_typer(citus_cli, name="citus")


@citus_cli.command("distribute")
def citus_distribute() -> None:
    """Distribute every table by its workspace on the Citus coordinator DATABASE_URL names
    (docs/deploy-citus.md). Idempotent: run it again after each `sen migrate`."""

    async def main() -> list[str]:
        db_url, _ = await _urls()
        return await citus.distribute(db_url)

    try:
        distributed = asyncio.run(main())
    except citus.CitusMissing as error:
        typer.echo(f"not distributed: {error}", err=True)
        raise typer.Exit(2)
    typer.echo(f"distributed {len(distributed)} tables: {', '.join(distributed) or 'none left'}")


@cli.command()
def openapi(
    output: Annotated[Path, typer.Option(help="Where to write the spec")] = SPEC_PATH,
) -> None:
    """Write the OpenAPI spec the app serves to openapi/openapi.json."""
    from app.main import create_app

    spec = create_app().openapi()
    output.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {output}")


@cli.command("create-workspace")
def create_workspace(
    name: Annotated[str, typer.Option(help="Workspace name")],
    email: Annotated[str, typer.Option(help="The owner's email")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help="The owner's password (prompted)")
    ],
    full_name: Annotated[str, typer.Option(help="The owner's full name")],
) -> None:
    """A workspace and its owner, from the command line (sign-up may be turned off)."""
    from app.core.db import make_engine, make_sessionmaker
    from app.core.errors import SenError
    from app.workspaces.service import create_workspace as create

    async def main() -> None:
        db_url, _ = await _urls()
        await _migrate(db_url)
        engine = make_engine(db_url)
        try:
            async with make_sessionmaker(engine)() as session:
                workspace, owner = await create(
                    session,
                    name=name,
                    owner_email=email,
                    owner_password=password,
                    owner_name=full_name,
                )
                await session.commit()
        except SenError as error:
            typer.echo(f"not created: {error.detail}", err=True)
            raise typer.Exit(2)
        finally:
            await engine.dispose()
        typer.echo(json.dumps({"workspace_id": str(workspace.id), "owner_id": str(owner.id)}))

    asyncio.run(main())


@embedded_cli.command("start")
def embedded_start(data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Start the embedded servers and print their URLs as shell exports."""
    directory = data_dir or get_settings().data_dir
    typer.echo(f"export DATABASE_URL='{embedded.ensure_postgres(directory)}'")
    typer.echo(f"export REDIS_URL='{embedded.ensure_redis(directory)}'")


@embedded_cli.command("stop")
def embedded_stop(data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Stop the embedded servers under the data directory."""
    directory = data_dir or get_settings().data_dir
    embedded.stop_postgres(directory)
    embedded.stop_redis(directory)


def main() -> None:
    try:
        get_settings()
    except ValidationError as error:  # a SEN_* variable (or PORT, DATABASE_URL…) is invalid
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "?"
            variable = name.upper() if name.upper() in _UNPREFIXED else f"SEN_{name.upper()}"
            typer.echo(f"sen: {variable}={problem['input']!r}: {problem['msg']}", err=True)
        raise SystemExit(2)
    cli()


_UNPREFIXED = {"DATABASE_URL", "REDIS_URL", "PORT"}
