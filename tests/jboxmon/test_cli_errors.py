"""Every failing ``jboxmon`` verb ends with one line: what failed, which object or URL, what to try;
a non-zero exit; the traceback only with ``-v``. Golden files hold the exact lines of the cases an
operator meets most (``cli_errors/*.err``; ``{influx}``, ``{endpoint}`` stand for the test's URLs)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from jboxmon.cli import main
from storage import InfluxClient, InfluxSettings
from storage.server import InfluxServer, free_port

GOLDEN = Path(__file__).parent / "cli_errors"
USAGE = ["report", "usage", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-02T00:00:00Z"]


def run(capsys: pytest.CaptureFixture, config: Path, *argv: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["--config", str(config), *argv])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(
        f"inventory: {{path: {tmp_path}/registry.sqlite}}\n"
        f"retention: {{state_dir: {tmp_path}/state, archive: {{url: 'file://{tmp_path}/archive'}}}}\n" + text
        if "retention:" not in text
        else f"inventory: {{path: {tmp_path}/registry.sqlite}}\n" + text
    )
    return path


def golden(name: str, **urls: str) -> str:
    text = (GOLDEN / f"{name}.err").read_text().strip()
    for key, value in urls.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that takes connections and never answers: InfluxDB up but far too busy."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    werkzeug = logging.getLogger("werkzeug")  # moto's request log is not what is tested here
    werkzeug.disabled = True
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=endpoint, **keys).create_bucket(Bucket="jbox-archive")
    yield endpoint
    server.stop()
    werkzeug.disabled = False


def s3_config(tmp_path: Path, url: str, endpoint: str) -> Path:
    (tmp_path / "key").write_text("testing")
    archive = (
        f"{{url: '{url}', endpoint_url: '{endpoint}', region: us-east-1, "
        f"access_key_id: {{file: {tmp_path}/key}}, secret_access_key: {{file: {tmp_path}/key}}}}"
    )
    return write_config(tmp_path, f"retention: {{state_dir: {tmp_path}/state, archive: {archive}}}\n")


def test_influxdb_down(tmp_path: Path, capsys) -> None:
    influx = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, f"influxdb: {{url: '{influx}', timeout: 2s}}\n")
    code, lines = run(capsys, config, *USAGE)
    assert code == 1 and lines == [golden("influxdb_down", influx=influx)]


def test_influxdb_too_slow_is_said_slow(tmp_path: Path, capsys, silent_server: str) -> None:
    config = write_config(tmp_path, f"influxdb: {{url: '{silent_server}', timeout: 1s}}\n")
    code, lines = run(capsys, config, *USAGE)
    assert code == 1 and lines == [golden("influxdb_slow", influx=silent_server)]
    assert "unreachable" not in lines[0]


def test_refused_credentials(tmp_path: Path, capsys) -> None:
    server = InfluxServer(tmp_path / "influxdb", auth=True).start()
    try:
        admin = InfluxClient(InfluxSettings(url=server.url, database="jboxmon"))
        admin.execute("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES", database="")
        admin.close()
        config = write_config(
            tmp_path, f"influxdb: {{url: '{server.url}', username: admin, password: {{env: NO_SUCH_VARIABLE_X}}}}\n"
        )
        (tmp_path / "pw").write_text("wrong")
        config.write_text(config.read_text().replace("{env: NO_SUCH_VARIABLE_X}", f"{{file: {tmp_path}/pw}}"))
        code, lines = run(capsys, config, *USAGE)
    finally:
        server.stop()
    assert code == 1 and lines == [golden("refused_credentials", influx=server.url)]


def test_missing_bucket(tmp_path: Path, capsys, s3_endpoint: str) -> None:
    config = s3_config(tmp_path, "s3://no-such-bucket/fleet", s3_endpoint)
    code, lines = run(capsys, config, "retention", "run")
    assert code == 1 and lines == [golden("missing_bucket", endpoint=s3_endpoint)]


def test_unreachable_endpoint(tmp_path: Path, capsys) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    config = s3_config(tmp_path, "s3://jbox-archive/fleet", endpoint)
    code, lines = run(capsys, config, "retention", "run")
    assert code == 1 and lines == [golden("unreachable_endpoint", endpoint=endpoint)]


def test_traceback_only_with_verbose(tmp_path: Path, capsys) -> None:
    influx = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, f"influxdb: {{url: '{influx}', timeout: 2s}}\n")
    capsys.readouterr()
    assert main(["-v", "--config", str(config), *USAGE]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == golden("influxdb_down", influx=influx)


VERBS = [
    ["db", "init"],
    USAGE,
    ["retention", "run"],
    ["retention", "run", "--dry-run"],
    ["retention", "restore", "--measurement", "log", "--from", "2026-11-01", "--to", "2026-11-02", "--database", "b"],
    [
        "rules",
        "backtest",
        "--rules",
        "rules/default/jbox.yaml",
        "--from",
        "2026-11-01T00:00:00Z",
        "--to",
        "2026-11-01T01:00:00Z",
        "--inventory",
        "data",
    ],
    ["simulate", "--boxes", "1", "--backfill", "1m"],
]


@pytest.mark.parametrize("argv", VERBS, ids=lambda argv: " ".join(argv[:2]))
def test_every_verb_says_influxdb_down_in_one_line(tmp_path: Path, capsys, argv: list[str]) -> None:
    influx = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, f"influxdb: {{url: '{influx}', timeout: 2s}}\n")
    code, lines = run(capsys, config, *argv)
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("jboxmon "), lines
    assert f"InfluxDB at {influx} is unreachable" in lines[0]


@pytest.mark.parametrize("argv", [["alerts", "list"], ["alerts", "history"], ["silences", "list"]], ids=" ".join)
def test_alerting_verbs_say_the_service_is_down_in_one_line(tmp_path: Path, capsys, argv: list[str]) -> None:
    port = free_port()
    config = write_config(tmp_path, f"alerting: {{listen: '127.0.0.1:{port}'}}\n")
    code, lines = run(capsys, config, *argv)
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("jboxmon "), lines
    assert "unreachable" in lines[0] and "Traceback" not in lines[0]
