"""The ``saaskit`` command line (Typer). Every command works against the embedded server by
default and against ``SAASKIT_DATABASE_URL`` when it is set."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Column, Table

from saaskit import __version__
from saaskit.config import Settings, get_settings
from saaskit.demo.cli import demo_command
from saaskit.insights.cli import rollup_command
from saaskit.kit.bootstrap import Environment
from saaskit.kit.db import SERVICE, database_name, libpq_url
from saaskit.kit.state import Runtime
from saaskit.system.cli import BackupDir, archive_app, backup_app, settings_with_dir
from saaskit.system.cli import tools as _tools
from saaskit.system.ops_cli import failover_app, pitr_app

app = typer.Typer(
    help="saaskit: the back office of a SaaS product.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
)
users_app = typer.Typer(help="Create, list, re-password and suspend accounts.", no_args_is_help=True)
db_app = typer.Typer(
    help="The database: its URL, and start/stop of the embedded server.", no_args_is_help=True
)
migrate_app = typer.Typer(help="Schema migrations: upgrade (default), downgrade, current.")
billing_app = typer.Typer(help="Billing: sync the plan catalog to Stripe, list plans.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
app.add_typer(migrate_app, name="migrate")
app.add_typer(billing_app, name="billing")
app.add_typer(backup_app, name="backup")
app.add_typer(archive_app, name="archive")

app.add_typer(pitr_app, name="pitr")
app.add_typer(failover_app, name="failover")
app.command("rollup")(rollup_command)
app.command("demo")(demo_command)

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _setup_logging(settings: Settings) -> None:
    from saaskit.kit import logsafe

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logsafe.install()  # no statement values in any log line


def _run_with_runtime(env: Environment, work: Callable[[Runtime], Awaitable[T]]) -> T:
    async def main() -> T:
        runtime = env.runtime(pool_size=2)
        try:
            return await work(runtime)
        finally:
            await runtime.db.dispose()

    return asyncio.run(main())


@app.command()
def version() -> None:
    """Print the saaskit version."""
    console.print(f"saaskit {__version__}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API worker processes.")] = 1,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the job worker in-process.")
    ] = True,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="On an empty database, first fill it with demo data (2,000 users, 90 days)."
        ),
    ] = False,
) -> None:
    """Start the database (embedded unless SAASKIT_DATABASE_URL), migrate, and serve API + jobs."""
    from saaskit.kit.preflight import AlreadyServing, PortUnavailable, claim

    settings = get_settings()
    _setup_logging(settings)
    # Before the server's imports: a second serve or a busy port is refused at once.
    data_dir = None if settings.database.url else Path(settings.data_dir).expanduser().resolve()
    try:
        claimed = claim(data_dir, host, port)
    except (AlreadyServing, PortUnavailable) as exc:
        err.print(f"saaskit serve: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    from saaskit.server import run_server

    code = run_server(
        settings,
        host=host,
        port=port,
        workers=workers,
        with_worker=worker and settings.jobs.run_in_serve,
        demo=demo,
        claimed=claimed,
    )
    if code:
        raise typer.Exit(code)


@app.command("worker")
def worker_command(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once.")] = None,
) -> None:
    """Run the job worker alone (for extra worker hosts); stops on Ctrl-C / SIGTERM."""
    from saaskit.server import run_worker_only

    settings = get_settings()
    _setup_logging(settings)
    run_worker_only(settings, concurrency=concurrency or settings.jobs.worker_concurrency)


@app.command("partitions")
def partitions_command(
    ensure: Annotated[
        bool, typer.Option("--ensure", help="Create the next periods' partitions now.")
    ] = False,
    drop_expired: Annotated[
        bool, typer.Option("--drop-expired", help="Drop partitions past retention.")
    ] = False,
) -> None:
    """Show the analytics tables' time partitions (rows, size, range); create or drop them."""
    from saaskit.system.archive import archiver
    from saaskit.tracking import partitions

    async def work(runtime: Runtime) -> tuple[list[partitions.PartitionInfo], list[str], list[str]]:
        async with runtime.db.session(SERVICE) as session:
            created = await partitions.ensure_ahead(session) if ensure else []
            privacy = runtime.settings.privacy
            dropped = (
                await partitions.drop_expired(
                    session,
                    detail_months=privacy.detail_months,
                    retention_days=privacy.partition_retention_days,
                    before_drop=archiver(runtime.settings),
                )
                if drop_expired
                else []
            )
            return await partitions.list_partitions(session), created, dropped

    with Environment(get_settings()) as env:
        rows, created, dropped = _run_with_runtime(env, work)
    # Names whole on any terminal (an operator copies them): the other columns wrap instead.
    table = Table(
        Column("table", no_wrap=True),
        Column("partition", no_wrap=True),
        "from (UTC)",
        "to (UTC)",
        "rows (est.)",
        "size",
        "retention",
    )
    for info in rows:
        spec = partitions.SPECS[info.parent]
        privacy = get_settings().privacy
        if spec.rolled_up:
            retention = f"{privacy.detail_months} months, once rolled up"
        else:
            days = spec.retention_days or privacy.partition_retention_days.get(spec.table)
            retention = f"{days} days" if days else "kept"
        table.add_row(
            info.parent,
            info.name,
            f"{info.starts:%Y-%m-%d}" if info.starts else "default",
            f"{info.ends:%Y-%m-%d}" if info.ends else "",
            f"{info.row_estimate:,}",
            f"{info.size_bytes / 1024:,.0f} kB",
            retention,
        )
    console.print(table)
    for name in created:
        console.print(f"created {name}")
    for name in dropped:
        console.print(f"dropped {name}")


# -- migrate -----------------------------------------------------------------------------------
@migrate_app.callback(invoke_without_command=True)
def migrate_default(ctx: typer.Context) -> None:
    """Without a subcommand: upgrade to the latest revision."""
    if ctx.invoked_subcommand is None:
        migrate_upgrade()


@migrate_app.command("upgrade")
def migrate_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrade the schema (as the owner) and grant the application role."""
    settings = get_settings()
    _setup_logging(settings)
    with Environment(settings) as env:
        if revision == "head":
            env.migrate()
        else:
            from saaskit.kit.migrations import upgrade

            upgrade(env.urls.owner, revision)
        _print_current(env)


@migrate_app.command("downgrade")
def migrate_downgrade(revision: Annotated[str, typer.Argument(help="Target, e.g. -1 or base.")]) -> None:
    """Downgrade the schema to REVISION."""
    from saaskit.kit.migrations import downgrade

    settings = get_settings()
    _setup_logging(settings)
    with Environment(settings) as env:
        downgrade(env.urls.owner, revision)
        _print_current(env)


@app.command("retention")
def retention_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Apply the retention schedule (docs/privacy.md): partitions past retention, old rows, each
    user's own data_retention_days. The nightly job does the same."""
    from saaskit.privacy import retention

    async def work(runtime: Runtime) -> list[retention.Item]:
        async with runtime.db.session(SERVICE) as session:
            if dry_run:
                return await retention.plan(session, runtime.settings)
            return await retention.apply(session, runtime.settings)

    with Environment(get_settings()) as env:
        items = _run_with_runtime(env, work)
    verb = "would remove" if dry_run else "removed"
    table = Table(Column("table", no_wrap=True), "rule", Column(verb, no_wrap=True), "rows")
    for item in items:
        table.add_row(item.table, item.rule, item.removes, f"{item.rows:,}")
    console.print(table)
    total = sum(item.rows for item in items)
    console.print(f"{'dry run: ' if dry_run else ''}{total:,} rows {verb}")


@migrate_app.command("revision")
def migrate_revision(
    message: Annotated[str, typer.Argument(help="What the revision does, e.g. 'Add invoices.due_at'.")],
) -> None:
    """Write a new revision: what the models and the <domain>/sql files declare that the database
    (at head) does not have yet. For developers; read and test the file before committing it."""
    from saaskit.kit.migrations import revision

    settings = get_settings()
    _setup_logging(settings)
    with Environment(settings) as env:
        env.migrate()
        console.print(f"wrote {revision(env.urls.owner, message)}")


@migrate_app.command("current")
def migrate_current() -> None:
    """Show the database's revision and the latest one."""
    with Environment(get_settings()) as env:
        _print_current(env)


def _print_current(env: Environment) -> None:
    from saaskit.kit.db import create_owner_engine
    from saaskit.kit.migrations import current_revision, head_revision

    engine = create_owner_engine(env.urls.owner)
    with engine.connect() as connection:
        current = current_revision(connection)
    engine.dispose()
    head = head_revision()
    state = "[green]at head[/]" if current == head else "[yellow]behind[/]"
    console.print(f"database revision: {current or '(empty)'}   latest: {head}   {state}")


# -- db ----------------------------------------------------------------------------------------
@db_app.command("url")
def db_url(
    app_role: Annotated[
        bool, typer.Option("--app", help="The application role's URL instead of the owner's.")
    ] = False,
) -> None:
    """Print the connection URL (starts the embedded server if needed): psql "$(saaskit db url)"."""
    settings = get_settings()
    env = Environment(settings, owner_tag="manual")
    with env:
        if env.is_embedded:
            env.keep_running()
        print(libpq_url(env.urls.app if app_role else env.urls.owner))


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL server and leave it running."""
    settings = get_settings()
    env = Environment(settings, owner_tag="manual")
    if not env.is_embedded:
        err.print("SAASKIT_DATABASE_URL is set: there is no embedded server to start.")
        raise typer.Exit(1)
    with env:
        env.keep_running()
        console.print(f"embedded PostgreSQL running in {env.data_dir / 'pgdata'}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server (not while a serve uses it: stop that serve)."""
    from saaskit.kit.embedded import EmbeddedPostgres
    from saaskit.kit.preflight import ServeLock

    settings = get_settings()
    env = Environment(settings)
    if not env.is_embedded:
        err.print("SAASKIT_DATABASE_URL is set: there is no embedded server to stop.")
        raise typer.Exit(1)
    serving = ServeLock.holder(env.data_dir)
    if serving is not None:
        err.print(
            f"saaskit serve{f' (pid {serving})' if serving else ''} is using this embedded server and "
            "would start it again: stop serve instead (Ctrl-C or SIGTERM), which stops the server too.",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    EmbeddedPostgres(env.data_dir).stop()
    (env.data_dir / "postgres.owner").unlink(missing_ok=True)
    console.print("embedded PostgreSQL stopped")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded server runs, and where."""
    from saaskit.kit.embedded import EmbeddedPostgres

    settings = get_settings()
    env = Environment(settings)
    if not env.is_embedded:
        console.print("external database (SAASKIT_DATABASE_URL)")
        return
    process = EmbeddedPostgres(env.data_dir).running_process()
    console.print(f"running, pid {process.pid}, socket in {process.socket_dir}" if process else "not running")


@db_app.command("health")
def db_health() -> None:
    """Foreign keys without an index, the slowest statements, dead rows, unused indexes, replicas."""
    from rich.table import Table

    from saaskit.kit.db import SERVICE
    from saaskit.system import database

    async def work(runtime: Runtime) -> database.Health:
        async with runtime.db.session(SERVICE) as session:
            return await database.health(session)

    with Environment(get_settings()) as env:
        report = _run_with_runtime(env, work)
    size = sum(t.size_bytes for t in report.tables)
    when = f"{report.checked_at:%Y-%m-%d %H:%M} UTC"
    console.print(f"[bold]{len(report.tables)} tables, {size / 1e6:,.1f} MB[/bold] at {when}")
    if report.unindexed_foreign_keys:
        console.print("[red]foreign keys without an index:[/red] " + ", ".join(report.unindexed_foreign_keys))
    else:
        console.print("every foreign key leads an index")
    if report.slowest is None:
        console.print("slowest statements: not collected (pg_stat_statements is off; docs/operations.md)")
    else:
        table = Table("mean ms", "calls", "statement", title="slowest statements")
        for s in report.slowest[:10]:
            table.add_row(f"{s['mean_ms']:.2f}", str(s["calls"]), str(s["query"])[:100])
        console.print(table)
    dead = Table("table", "live", "dead", "last vacuum", title="most dead rows")
    for t in report.vacuum[:10]:
        dead.add_row(
            t["table_name"], str(t["live_rows"]), str(t["dead_rows"]), str(t["last_vacuum"] or "never")
        )
    console.print(dead)
    console.print(f"{len(report.unused_indexes)} indexes never used since the statistics were reset")
    console.print(f"{len(report.replicas)} replicas streaming" if report.replicas else "no replica streaming")


# -- backups -----------------------------------------------------------------------------------
# saaskit backup ... and saaskit archive ... are in system/cli.py.


@app.command("restore")
def restore_command(
    database: Annotated[
        str | None, typer.Option("--database", help="The database to restore a dump into (created).")
    ] = None,
    backup_id: Annotated[str | None, typer.Option("--backup", help="Default: the newest.")] = None,
    directory: BackupDir = None,
    replace: Annotated[bool, typer.Option("--replace", help="Drop the database first if it exists.")] = False,
    to_time: Annotated[
        str | None,
        typer.Option("--to-time", help="Point-in-time recovery to this ISO time (UTC if no zone)."),
    ] = None,
    base_backup: Annotated[
        str | None,
        typer.Option("--base-backup", help="PITR from this base backup (default: the newest before)."),
    ] = None,
    into: Annotated[
        Path | None, typer.Option("--into", help="PITR: the fresh data directory to create.")
    ] = None,
    archive: Annotated[
        Path | None, typer.Option("--archive", help="PITR: the WAL archive directory.")
    ] = None,
) -> None:
    """Restore a backup into a new database on the same server and check every table against
    the manifest; or, with --to-time/--base-backup, recover a base backup and the WAL archive to a
    moment into a fresh data directory (--into). Never over existing data without --replace. A
    dump comes from the local directory, else is downloaded from the bucket (its SHA-256
    checked); an encrypted one needs the key it was made with."""
    import tempfile

    from saaskit.system import backup_runs, backups

    if to_time is not None or base_backup is not None:
        from saaskit.system.ops_cli import restore_to_time

        restore_to_time(to_time, base_backup, into, directory, archive, replace)
        return
    if database is None:
        console.print("[red]--database: the database to restore the dump into is required[/red]")
        raise typer.Exit(1)
    settings = settings_with_dir(directory)
    try:
        key = backup_runs.encryption_key(settings)
        with Environment(settings) as env, tempfile.TemporaryDirectory(prefix="saaskit-restore-") as scratch:
            if database == database_name(env.urls.owner) and not replace:
                raise backups.BackupError(f"{database} is the live database: pass --replace to overwrite it")
            with console.status("fetching the backup ..."):
                backup, source, where = backup_runs.fetch(settings, backup_id, Path(scratch))
            with console.status(f"restoring {backup.id} (from {where}) into {database} ..."):
                report = backups.restore(
                    backup, source, env.urls.owner, database, _tools(env), replace=replace, key=key
                )
    except backups.BackupError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    for line in report.mismatches:
        console.print(f"[red]{line}[/red]")
    verdict = "identical to the backup" if report.ok else f"{len(report.mismatches)} tables differ"
    console.print(f"restored {report.tables} tables, {report.rows:,} rows into {database}: {verdict}")
    if not report.ok:
        raise typer.Exit(1)


# -- users -------------------------------------------------------------------------------------
def _new_password() -> str:
    return secrets.token_urlsafe(12)


@users_app.command("create")
def users_create(
    email: str,
    password: Annotated[str | None, typer.Option(help="Omit to generate one (printed once).")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Platform admin.")] = False,
) -> None:
    """Create an account."""
    from saaskit.accounts import service

    settings = get_settings()
    generated = password is None
    secret_password = password or _new_password()

    async def work(runtime: Runtime) -> str:
        async with runtime.db.session(SERVICE) as session:
            user = await service.create_user(
                session,
                runtime,
                email=email,
                password=secret_password,
                name=name,
                role="admin" if admin else "user",
            )
            return str(user.id)

    with Environment(settings) as env:
        env.migrate()
        user_id = _run_with_runtime(env, work)
    console.print(f"created {'admin' if admin else 'user'} {email} ({user_id})")
    if generated:
        console.print(f"password (shown once): [bold]{secret_password}[/]")


@users_app.command("list")
def users_list(
    search: Annotated[str | None, typer.Option(help="Part of the e-mail or name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
) -> None:
    """List accounts, newest first."""
    from saaskit.accounts import service
    from saaskit.accounts.models import User

    async def work(runtime: Runtime) -> list[User]:
        async with runtime.db.session(SERVICE) as session:
            return await service.list_users(session, search=search, limit=limit)

    with Environment(get_settings()) as env:
        rows = _run_with_runtime(env, work)
    table = Table("e-mail", "name", "role", "status", "tier", "sign-ins", "created")
    for user in rows:
        table.add_row(
            user.email,
            user.name or "",
            user.role,
            user.status,
            user.tier,
            str(user.sign_in_count),
            user.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@users_app.command("set-password")
def users_set_password(
    email: str,
    password: Annotated[str | None, typer.Option(help="Omit to generate one (printed once).")] = None,
) -> None:
    """Set a new password (and clear any lockout)."""
    from saaskit.accounts import service

    secret_password = password or _new_password()

    async def work(runtime: Runtime) -> None:
        async with runtime.db.session(SERVICE) as session:
            user = await service.find_user_by_email(session, email)
            await service.set_password(session, runtime, user, secret_password)

    with Environment(get_settings()) as env:
        _run_with_runtime(env, work)
    console.print(f"password changed for {email}")
    if password is None:
        console.print(f"new password (shown once): [bold]{secret_password}[/]")


@users_app.command("reset-two-factor")
def users_reset_two_factor(email: str) -> None:
    """Turn an account's two-factor sign-in off (lost app and recovery codes); audited."""
    from saaskit.accounts import service, two_factor
    from saaskit.audit.service import SYSTEM_ACTOR

    async def work(runtime: Runtime) -> bool:
        async with runtime.db.session(SERVICE) as session:
            user = await service.find_user_by_email(session, email)
            return await two_factor.reset_by_operator(session, SYSTEM_ACTOR, user)

    with Environment(get_settings()) as env:
        removed = _run_with_runtime(env, work)
    console.print(
        f"two-factor sign-in turned off for {email}" if removed else f"{email} had no two-factor sign-in"
    )


@users_app.command("suspend")
def users_suspend(
    email: str,
    reactivate: Annotated[bool, typer.Option("--reactivate", help="Make the account active again.")] = False,
    ban: Annotated[bool, typer.Option("--ban", help="Ban instead of suspend.")] = False,
) -> None:
    """Suspend (or ban, or reactivate) an account; its sessions stop working at once."""
    from saaskit.accounts import service

    status = "active" if reactivate else ("banned" if ban else "suspended")

    async def work(runtime: Runtime) -> int:
        async with runtime.db.session(SERVICE) as session:
            user = await service.find_user_by_email(session, email)
            return await service.set_status(session, user, status)

    with Environment(get_settings()) as env:
        revoked = _run_with_runtime(env, work)
    console.print(f"{email} is now {status}" + (f"; {revoked} session(s) revoked" if revoked else ""))


# -- billing -----------------------------------------------------------------------------------
@billing_app.command("sync-plans")
def billing_sync_plans() -> None:
    """Create or update the Stripe product and price of every plan (and Stripe coupons)."""
    from saaskit.billing.plans import SyncReport, sync_plans

    async def work(runtime: Runtime) -> SyncReport:
        return await sync_plans(runtime)

    with Environment(get_settings()) as env:
        env.migrate()
        report = _run_with_runtime(env, work)
    console.print(
        f"synced {len(report.plans)} plan(s): {report.products_created} product(s), "
        f"{report.prices_created} price(s), {report.coupons_created} coupon(s) created at Stripe"
    )


@billing_app.command("plans")
def billing_plans() -> None:
    """List the plans and their Stripe ids."""
    from saaskit.billing.models import SubscriptionPlan
    from saaskit.billing.plans import list_plans

    async def work(runtime: Runtime) -> list[SubscriptionPlan]:
        async with runtime.db.session(SERVICE) as session:
            return await list_plans(session, public_only=False)

    with Environment(get_settings()) as env:
        rows = _run_with_runtime(env, work)
    table = Table("name", "tier", "interval", "price (cents)", "active", "stripe price")
    for plan in rows:
        table.add_row(
            plan.name,
            plan.tier,
            plan.billing_interval,
            str(plan.price_cents),
            "yes" if plan.is_active else "no",
            plan.stripe_price_id or "(not synced)",
        )
    console.print(table)


def main() -> None:
    from saaskit.kit.errors import AppError
    from saaskit.system.failover import NotPrimary

    try:
        app()
    except AppError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        sys.exit(1)
    except NotPrimary as exc:  # serve, worker, migrate against a standby or a fenced old primary
        err.print(f"[red]refused:[/] {exc}", soft_wrap=True)
        sys.exit(1)
