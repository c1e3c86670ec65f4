"""SIGHUP while the components start: the reload waits for the start, so every component reloads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from config import load_config
from jboxmon.services import Services
from storage.server import free_port


class Component:
    def __init__(self, on_start=None) -> None:
        self.on_start, self.reloads = on_start, 0

    def start(self) -> Component:
        if self.on_start:
            self.on_start()
        return self

    def reload(self) -> None:
        self.reloads += 1

    def stop(self) -> None:
        pass


def test_a_reload_asked_while_components_start_reloads_every_one_once_they_are_up(tmp_path: Path) -> None:
    path = tmp_path / "jboxmon.yaml"
    path.write_text(f"influxdb: {{url: 'http://127.0.0.1:{free_port()}', database: fleet}}\n")
    services = Services(load_config(path), components=("rules",))
    reloading = threading.Thread(target=services.reload)  # what the SIGHUP handler starts
    first = Component(on_start=lambda: (reloading.start(), time.sleep(0.3)))  # up: a client may signal now
    second = Component()
    services.build = lambda: [first, second]  # type: ignore[method-assign]
    services.start()
    reloading.join(timeout=10)
    assert (first.reloads, second.reloads) == (1, 1)
    services.stop()
