"""A real gunicorn serving the registry against the test database, for tests over real HTTP.

The ``live_gunicorn`` fixture (import ``live_gunicorn_fixture`` into a test module to use it)
starts ``gunicorn registry.wsgi`` in a subprocess with several sync workers on a free loopback
port, pointed (through ``DATABASE_URL`` / ``REDIS_URL``, as in production) at the database
pytest-django created for this run. It needs ``transactional_db``: what a test writes must be
committed to be seen by the server's own connections, and the tables are flushed after the test,
once the server has stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
WORKERS = 4
START_TIMEOUT = 60


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveServer:
    url: str
    log: Path
    process: subprocess.Popen

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Response:
        """One HTTP request; any status (4xx and 5xx too) comes back as a ``Response``."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Token {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, _lower(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, _lower(error.headers), error.read())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(settings_dict: dict[str, Any]) -> str:
    """The ``DATABASE_URL`` of a Django database, as django-environ reads it back.

    A unix socket directory as host (the embedded PostgreSQL) goes into the path, which
    django-environ splits into HOST and NAME: ``postgres://user@:port//socket/dir/name``.
    """
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = settings_dict.get("HOST") or ""
    port = settings_dict.get("PORT") or ""
    name = quote(settings_dict["NAME"], safe="")
    if host.startswith("/"):
        return f"postgres://{credentials}@:{port}/{quote(host)}/{name}"
    location = f"{host}:{port}" if port else host
    return f"postgres://{credentials}@{location}/{name}"


def _wait_until_serving(server: LiveServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited ({server.process.returncode}):\n{server.log_text()}"
            )
        try:
            # Unauthenticated: 401 from a worker that has loaded the whole application.
            if server.request("GET", "/api/v1/issuances/", timeout=5).status == 401:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve within {START_TIMEOUT} s:\n{server.log_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(name="live_gunicorn")
def live_gunicorn_fixture(transactional_db, tmp_path) -> Iterator[LiveServer]:
    """gunicorn with ``WORKERS`` sync workers on a free port, serving the test database."""
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_URL": settings.CACHES["default"]["LOCATION"],
        # Rate-limit counters of this server only, and no limit a test could reach.
        "CACHE_KEY_PREFIX": f"live-gunicorn-{port}-{os.getpid()}",
        "API_WRITE_RATE": "100000/minute",
        "DEBUG": "false",  # as in production: no debug pages, errors logged
        "LOG_LEVEL": "WARNING",
    }
    command = [
        str(GUNICORN),
        "registry.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(WORKERS),
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        "--no-control-socket",  # the default path under ~/.gunicorn/ is shared by every server
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a hard stop reaches the workers
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log=log, process=process)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        _stop(process)
