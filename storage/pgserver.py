"""Start and stop a private PostgreSQL (Debian's postgresql 15) for tests, drills and deploy/.

Like :mod:`storage.server` for influxd: ``initdb`` into a folder of its own, a free loopback port,
no Unix socket, password authentication (SCRAM) for the one superuser, and a database created for
jboxmon. PostgreSQL refuses to run as root, so as root the folder is given to the ``postgres``
system user and the server runs as that user (the folder's parents must let it through: a folder
under /tmp does, one under root's private pytest folder does not; :func:`private_data_dir` makes one).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from storage.server import free_port

BIN_DIRS = ("/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")
RUN_AS = "postgres"  # the system user that owns the server's files when we are root


def find_binary(name: str) -> str:
    for folder in BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name!r} not found: install Debian's 'postgresql' package (apt-get install postgresql)")
    return found


def private_data_dir(prefix: str = "jboxmon-pg-") -> Path:
    """A fresh data folder (not yet created) the server's user can reach, under the system's
    temporary folder; remove its parent when done."""
    parent = Path(tempfile.mkdtemp(prefix=prefix))
    parent.chmod(0o711)  # the postgres user passes through; only the data folder inside is its own
    return parent / "pgdata"


class PostgresServer:
    """A private ``postgres`` process. ``start()`` initialises the folder if empty and waits until
    the server accepts connections; ``stop()`` is idempotent; ``start()`` again reuses the data."""

    def __init__(
        self,
        data_dir: Path | str,
        port: int | None = None,
        *,
        user: str = "jboxmon",
        password: str | None = None,
        database: str = "jboxmon",
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.user = user
        self.password = password or secrets.token_urlsafe(16)  # give it again to start() an existing folder
        self.database = database
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The connection URL without the password (give it through ``inventory.password``)."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def url_with_password(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout_s: float = 60.0) -> PostgresServer:
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._initdb()
        log_file = open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab")  # noqa: SIM115 - owned by the process
        self._process = subprocess.Popen(
            [
                find_binary("postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=on",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=32MB",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            user=self._run_as(),
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not the server's
        )
        log_file.close()
        self._wait_ready(timeout_s)
        if fresh:
            self._create_database()
        return self

    def _run_as(self) -> str | None:
        return RUN_AS if os.geteuid() == 0 else None

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(self.password)
        run_as = self._run_as()
        if run_as:
            owner = pwd.getpwnam(run_as)
            for path in (self.data_dir, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        try:
            # --no-sync: initdb's own files need no fsync here (a crash mid-initdb means initdb
            # again); the server itself runs with fsync on
            subprocess.run(
                [
                    find_binary("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                user=run_as,
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed for {self.data_dir}: {exc.stderr.decode(errors='replace')}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def _connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=2,
            autocommit=True,
        )

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self._process.returncode}; see {self.data_dir}.log")
            try:
                self._connect().close()
                return
            except Exception:  # starting up, or not listening yet
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections on 127.0.0.1:{self.port} within {timeout_s}s")

    def _create_database(self) -> None:
        with self._connect() as db:
            if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                db.execute(f'CREATE DATABASE "{self.database}"')

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """A fast shutdown (SIGINT: clients cut off, data flushed)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(2)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
