"""Groups are evaluated side by side: a group whose read InfluxDB is slow to answer (the energy
group's hour of buckets after a restart) does not hold back another group's evaluations, and a
reload waits for the evaluations under way, then applies."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from config.rules import RulesConfig
from inventory import Box
from rules.loader import load_rules
from rules.service import RulesService
from tests.rules.test_supervision import write

RULES = """groups:
  - name: slow
    interval: 1s
    rules:
      - alert: Empty
        condition: {threshold: {field: soc_pct, aggregate: min, window: 1m, op: "<", value: 10}}
  - name: quick
    interval: 1s
    rules:
      - alert: Hot
        condition: {threshold: {field: temp_max_c, aggregate: max, window: 1m, op: ">", value: 55}}
"""
SLOW_S = 3.0


def test_a_slow_group_does_not_hold_back_the_others(tmp_path: Path, influx) -> None:
    write(influx)  # jbox-1 hot (60 °C) and empty (5 %)
    reading_slowly = threading.Event()

    def query(statement: str):  # the seam: InfluxDB slow to answer one group's statement
        if '"soc_pct"' in statement:
            reading_slowly.set()
            time.sleep(SLOW_S)
        return influx.query(statement)

    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(RULES)
    config = RulesConfig(files=[str(rule_file)], state_db=tmp_path / "state.sqlite", reload_every=60)
    service = RulesService(config, query, lambda: [Box("jbox-1")])
    service.store.open()
    service.engine = service._engine(load_rules([rule_file]), service.store)  # started, without the scheduler
    now = time.time()
    slow = threading.Thread(target=service.evaluate_group, args=("slow", now))
    slow.start()
    assert reading_slowly.wait(10)
    started = time.monotonic()
    service.evaluate_group("quick", now)
    quick_s = time.monotonic() - started
    assert quick_s < SLOW_S / 2, quick_s  # it did not wait for the slow read
    assert {a.name for a in service.current.snapshot()} == {"Hot"}
    # a reload now waits for the slow evaluation, then applies
    rule_file.write_text(RULES.replace("value: 55", "value: 65"))
    assert service.reload()
    assert not slow.is_alive()  # the reload waited for it
    slow.join()
    assert {a.name for a in service.current.snapshot()} == {"Hot", "Empty"}
    rules = {loaded.rule.alert: loaded for group in service.engine.rules.values() for loaded in group}
    assert rules["Hot"].rule.condition.value == 65
    service.store.close()
