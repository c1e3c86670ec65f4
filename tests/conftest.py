"""Shared fixtures: a real, private InfluxDB server for the whole test session."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator

import pytest

from config.model import InfluxDBConfig
from jboxmon.logsetup import QUIET_LOGGERS
from storage import InfluxClient, InfluxSettings
from storage.pgserver import PostgresServer, private_data_dir
from storage.server import InfluxServer


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """Tests that run the CLI set up process logging (level, handler); undo it after each test so
    one test's logging set-up never changes the next one's timing or output."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """Debian's ``influxd`` on a free loopback port with a temporary data directory."""
    server = InfluxServer(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def influx_config(influx_server: InfluxServer) -> InfluxDBConfig:
    """An ``influxdb:`` config section pointing at a fresh, uniquely named database."""
    return InfluxDBConfig(url=influx_server.url, database=f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def influx(influx_config: InfluxDBConfig) -> Iterator[InfluxClient]:
    """A client on a fresh database (created with its retention policies), dropped afterwards."""
    client = InfluxClient(InfluxSettings.from_config(influx_config))
    client.create_database()
    yield client
    client.execute(f'DROP DATABASE "{influx_config.database}"', database="")
    client.close()


@pytest.fixture
def influx_settings(influx_config: InfluxDBConfig) -> InfluxSettings:
    return InfluxSettings.from_config(influx_config)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Debian's PostgreSQL on a free loopback port, in a temporary folder, for the whole session
    (started only by the tests that ask for it)."""
    data = private_data_dir()
    server = PostgresServer(data)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL; its URL carries the password (tests only)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with postgres_server._connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url_with_password.rsplit("/", 1)[0] + f"/{name}"
    with postgres_server._connect() as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def operator_headers():
    """``operator_headers(inventory_path, role="admin")`` -> ``{"Authorization": "Bearer ..."}`` of a new
    operator (see tests/controlplane/helpers.py for auth in tests)."""
    from tests.controlplane.helpers import operator_headers as issue

    return issue
