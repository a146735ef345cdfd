"""The embedded default: servers start, are reused, survive a crash, and stop."""

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from registry import embedded


@pytest.fixture
def scratch_data_dir(monkeypatch):
    # Short path under /tmp: unix socket paths are limited to about 100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="emb-", dir="/tmp"))
    monkeypatch.setattr(embedded, "DATA_DIR", data_dir)
    monkeypatch.setattr(embedded, "PG_DIR", data_dir / "pg")
    monkeypatch.setattr(embedded, "REDIS_DIR", data_dir / "redis")
    monkeypatch.setattr(embedded, "REDIS_SOCKET", data_dir / "redis" / "redis.sock")
    monkeypatch.setattr(embedded, "REDIS_PIDFILE", data_dir / "redis" / "redis.pid")
    yield data_dir
    embedded.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def postgres_answers(params):
    with psycopg.connect(
        host=params["HOST"], port=params["PORT"], user=params["USER"], dbname=params["NAME"]
    ) as connection:
        extension = connection.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'"
        ).fetchone()
        return extension is not None


def test_embedded_servers_survive_a_crash_and_stop_cleanly(scratch_data_dir):
    params = embedded.ensure_postgres()
    redis_url = embedded.ensure_redis()
    assert postgres_answers(params)
    socket_path = redis_url.removeprefix("redis+socket://")
    assert redis.Redis(unix_socket_path=socket_path).ping()
    # A second start reuses the running servers.
    first_pid = (embedded.PG_DIR / "postmaster.pid").read_text().splitlines()[0]
    assert embedded.ensure_postgres() == params
    assert (embedded.PG_DIR / "postmaster.pid").read_text().splitlines()[0] == first_pid
    # Crash both: nothing they leave behind may block the next start.
    os.kill(int(first_pid), signal.SIGKILL)
    os.kill(int(embedded.REDIS_PIDFILE.read_text().strip()), signal.SIGKILL)
    time.sleep(0.5)
    params = embedded.ensure_postgres()
    assert postgres_answers(params)
    assert redis.Redis(
        unix_socket_path=embedded.ensure_redis().removeprefix("redis+socket://")
    ).ping()
    embedded.stop()
    assert not (embedded.PG_DIR / "postmaster.pid").exists()
    assert not embedded.REDIS_SOCKET.exists()
