"""``jboxmon rules test``: the notation, the file checks, and real runs against InfluxDB."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import pytest

from config.model import InfluxDBConfig
from jboxmon.cli import main
from rules.series import Selector, parse_selector, parse_values
from rules.unittest import LOOKBACK_NS, NS, RulesTestOptions, load_test_file, run_test_files, start_time
from storage import InfluxClient, InfluxSettings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = ROOT / "rules" / "default" / "jbox.yaml"
DEFAULT_TESTS = sorted((ROOT / "rules" / "default" / "tests").glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("RULES", str(DEFAULT_RULES)))
    return path


@pytest.fixture
def make_test_file(tmp_path: Path):
    """``make_test_file(yaml_text)`` -> the path of a test file; ``RULES`` stands for the default rules."""
    return lambda text: write(tmp_path, text)


def run(files: list[Path], url: str | None, *, batched: bool = True) -> tuple[int, str]:
    out = io.StringIO()
    influx = InfluxSettings.from_config(InfluxDBConfig(url=url)) if url else None
    code = run_test_files(files, RulesTestOptions(influx=influx, batched=batched), out=out)
    return code, out.getvalue()


# -- notation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1+2x3", [1, 3, 5, 7]),
        ("5x2", [5, 5, 5]),
        ("10-2x2", [10, 8, 6]),
        ("-2+4x3", [-2, 2, 6, 10]),
        ("1 _ 3", [1, None, 3]),
        ("1 _x3 4", [1, None, None, None, 4]),  # '_xN' is N gaps, as in promtool
        ("0.5+0.25x2 7", [0.5, 0.75, 1.0, 7]),
        ("1e3", [1000]),
        (42, [42]),
        ("", []),
        ('"E1"x2', ["E1", "E1", "E1"]),
        ('"disk full" _ "a \\"quoted\\" word"', ["disk full", None, 'a "quoted" word']),
    ],
)
def test_expanding_notation(text, values):
    assert parse_values(text) == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1+x3", "term 1 '1+x3' of '1+x3': expected 'a+bxN', 'a-bxN', 'axN', a number, '_', '_xN' or a quoted"),
        ("1 2+3", "term 2 '2+3' of '1 2+3': expected"),
        ("abc", "term 1 'abc' of 'abc': expected"),
        ('1 "E1"', "a series holds numbers or strings, not both, got '1 \"E1\"'"),
        ("1x99999999", "term 1 '1x99999999': more than 1000000 samples"),
    ],
)
def test_bad_notation_names_the_term(text, message):
    with pytest.raises(ValueError) as caught:
        parse_values(text)
    assert str(caught.value).startswith(message)


def test_series_selector():
    assert parse_selector('telemetry.p_meas_kw{jbox_id="jbox-0001"}') == Selector(
        "telemetry", "p_meas_kw", (("jbox_id", "jbox-0001"),)
    )
    assert parse_selector('logs:log.code{level="error", jbox_id="jbox-0001"}') == Selector(
        "log", "code", (("jbox_id", "jbox-0001"), ("level", "error")), "logs"
    )
    assert parse_selector("heartbeat.uptime_s") == Selector("heartbeat", "uptime_s")
    with pytest.raises(ValueError, match="expected a series like"):
        parse_selector("telemetry")
    with pytest.raises(ValueError, match="expected tags like"):
        parse_selector("telemetry.soc_pct{jbox_id=jbox-0001}")


def test_start_is_aligned_and_inside_retention(make_test_file):
    path = make_test_file("""\
        rule_files: [RULES]
        tests:
          - interval: 7s
          - interval: 500ms
    """)
    now = 1_790_000_123 * NS
    start = start_time(load_test_file(path), now)
    for seconds in (7, 0.5, 10, 30, 60):  # the tests' and the default groups' intervals
        assert start % round(seconds * NS) == 0
    assert now - LOOKBACK_NS - 7 * 60 * NS < start <= now - LOOKBACK_NS


# -- invalid files: exit 2, pointed messages -----------------------------------------------------


def test_broken_test_file_gives_pointed_errors_and_exit_2(make_test_file):
    path = make_test_file("""\
        rule_files: [RULES]
        tests:
          - name: stuck
            interval: 0s
            inventory: [jbox-0001, {jbox_id: jbox-0002, sitee: x}]
            input_series:
              - series: 'telemetry.p_meas_kw{jbox_id="jbox-0001"}'
                values: '500 1+x3'
            alert_rule_test:
              - eval_time: 3 minutes
                alertname: SetpointNotFolowed
                exp_alerts:
                  - exp_label: {jbox_id: jbox-0001}
    """)
    code, out = run([path], url=None)  # no server is started for invalid files
    assert code == 2
    assert out.splitlines() == [
        f"{path}:4: tests[0] (stuck): interval: expected a duration above zero like '10s', got '0s'",
        f"{path}:5: tests[0] (stuck): inventory[1].sitee: unknown key, did you mean 'site'? "
        "(allowed: jbox_id, region, registered, service, site)",
        f"{path}:8: tests[0] (stuck): input_series[0].values: term 2 '1+x3' of '500 1+x3': expected 'a+bxN', "
        "'a-bxN', 'axN', a number, '_', '_xN' or a quoted string like '\"E1\"x10'",
        f"{path}:10: tests[0] (stuck): alert_rule_test[0].eval_time: expected a duration like '3m', got '3 minutes'",
        f"{path}:13: tests[0] (stuck): alert_rule_test[0].exp_alerts[0].exp_label: unknown key, "
        "did you mean 'exp_labels'? (allowed: exp_annotations, exp_labels)",
        "0 passed, 0 failed in 0.0s; 1 invalid test file(s)",
    ]


def test_unknown_alertname_is_an_invalid_file(make_test_file):
    path = make_test_file("""\
        rule_files: [RULES]
        tests:
          - name: typo
            alert_rule_test:
              - {eval_time: 1m, alertname: SetpointNotFolowed}
    """)
    code, out = run([path], url=None)
    assert code == 2
    assert out.startswith(
        f"{path}:5: tests[0] (typo): alert_rule_test[0].alertname: no enabled rule 'SetpointNotFolowed' in the "
        "rule files, did you mean 'SetpointNotFollowed'? (known: FleetFaultShareHigh, JBoxSilent, "
    )


def test_missing_rule_file_and_bad_yaml(tmp_path):
    missing = write(tmp_path, "rule_files: [nowhere.yaml]\ntests: []\n", "missing.yaml")
    bad = write(tmp_path, "rule_files: [x\ntests: -\n", "bad.yaml")
    code, out = run([missing, bad], url=None)
    assert code == 2
    assert out.splitlines()[:2] == [
        f"{missing}:1: rule_files: {tmp_path / 'nowhere.yaml'}: cannot read: No such file or directory",
        f"{bad}:2:6: invalid YAML: expected ',' or ']', but got ':'",
    ]


def test_evaluation_interval_must_be_whole_seconds(tmp_path):
    path = write(tmp_path, "rule_files: [RULES]\nevaluation_interval: 500ms\n")
    code, out = run([path], url=None)
    assert code == 2
    assert out.startswith(f"{path}:2: evaluation_interval: expected a whole number of seconds of at least 1s")


# -- runs against a real InfluxDB ----------------------------------------------------------------


def test_default_suite_passes_through_the_cli(influx_server, capsys):
    assert DEFAULT_TESTS, "rules/default/tests/*.yaml are missing"
    code = main(["rules", "test", *map(str, DEFAULT_TESTS), "--influx-url", influx_server.url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAILED" not in out
    assert re.match(r"\d+ passed, 0 failed in \d+\.\ds$", out.splitlines()[-1]), out


def test_every_default_rule_has_a_unit_test():
    from rules.loader import load_rules

    rules = {rule.alert for group in load_rules([DEFAULT_RULES]) for rule in group.rules}
    tested = {
        check.alertname
        for path in DEFAULT_TESTS
        for test in load_test_file(path).spec.tests
        for check in test.alert_rule_test
        if check.exp_alerts
    }
    assert rules <= tested, f"no firing test for {sorted(rules - tested)}"


def test_batched_evaluation_agrees_with_one_evaluation_per_call(influx_server):
    """The runner batches evaluations (the backtest path); the live evaluator calls once per time."""
    files = [p for p in DEFAULT_TESTS if p.stem in ("power", "thermal", "fleet")]
    code, out = run(files, influx_server.url, batched=False)
    assert code == 0, out


def test_wrong_expectation_fails_with_expected_and_got(make_test_file, influx_server):
    path = make_test_file("""\
        rule_files: [RULES]
        tests:
          - name: stuck power
            interval: 10s
            inventory: [{jbox_id: jbox-0001, site: site-001, region: IDF, service: fcr}]
            input_series:
              - {series: 'telemetry.p_meas_kw{jbox_id="jbox-0001"}', values: '500x30'}
              - {series: 'telemetry.p_setpoint_kw{jbox_id="jbox-0001"}', values: '0x30'}
            alert_rule_test:
              - eval_time: 3m        # wrong: still pending
                alertname: SetpointNotFollowed
                exp_alerts:
                  - exp_labels: {jbox_id: jbox-0001, severity: critical, team: operations}
              - eval_time: 4m        # right, with alertname and without annotations
                alertname: SetpointNotFollowed
                exp_alerts:
                  - exp_labels: {alertname: SetpointNotFollowed, jbox_id: jbox-0001, site: site-001,
                                 region: IDF, service: fcr, severity: critical, team: operations}
              - eval_time: 4m        # wrong: the labels miss the box's site, region and service
                alertname: SetpointNotFollowed
                exp_alerts:
                  - exp_labels: {jbox_id: jbox-0001, severity: critical, team: operations}
    """)
    code, out = run([path], influx_server.url)
    assert code == 1
    labels = 'jbox_id="jbox-0001", region="IDF", service="fcr", severity="critical", site="site-001", team="operations"'
    assert out.splitlines()[1:] == [
        f"  FAILED: stuck power ({path}:10)",
        "    alertname: SetpointNotFollowed, time: 3m",
        "      exp:",
        '        0: {jbox_id="jbox-0001", severity="critical", team="operations"}',
        "      got: (none)",
        f"  FAILED: stuck power ({path}:19)",
        "    alertname: SetpointNotFollowed, time: 4m",
        "      exp:",
        '        0: {jbox_id="jbox-0001", severity="critical", team="operations"}',
        "      got:",
        f"        0: {{{labels}}}",
        out.splitlines()[-1],
    ]
    assert out.splitlines()[-1].startswith("0 passed, 1 failed in ")


def test_annotations_compared_exactly_when_given(make_test_file, influx_server):
    path = make_test_file("""\
        rule_files: [RULES]
        tests:
          - name: wrong summary
            interval: 30s
            input_series:
              - {series: 'telemetry.temp_max_c{jbox_id="jbox-0001"}', values: '60x10'}
            alert_rule_test:
              - eval_time: 2m
                alertname: OverheatCritical
                exp_alerts:
                  - exp_labels: {jbox_id: jbox-0001, severity: critical}
                    exp_annotations: {summary: "jbox-0001 cells at 59.0 °C (critical above 55 °C)"}
    """)
    code, out = run([path], influx_server.url)
    assert code == 1
    assert out.splitlines()[1:-1] == [
        f"  FAILED: wrong summary ({path}:8)",
        "    alertname: OverheatCritical, time: 2m",
        "      exp:",
        '        0: {jbox_id="jbox-0001", severity="critical"} annotations '
        '{summary="jbox-0001 cells at 59.0 °C (critical above 55 °C)"}',
        "      got:",
        '        0: {jbox_id="jbox-0001", severity="critical"} annotations '
        '{chart_threshold="55", summary="jbox-0001 cells at 60.0 °C (critical above 55 °C)"}',
    ]


def test_string_fields_in_the_logs_policy_and_databases_dropped(make_test_file, influx_server):
    path = make_test_file("""\
        rule_files: [RULES]
        evaluation_interval: 30s
        tests:
          - name: storm
            interval: 250ms
            input_series:
              - series: 'logs:log.code{jbox_id="jbox-0009", level="error"}'
                values: '"E1"x1999'
            alert_rule_test:
              - eval_time: 3m        # 4 lines a second: 360 > 300 at 1m30s, pending for 2m
                alertname: LogStorm
                exp_alerts: []
              - eval_time: 3m30s
                alertname: LogStorm
                exp_alerts:
                  - exp_labels: {jbox_id: jbox-0009, severity: warning}
                    exp_annotations: {summary: "jbox-0009 logged 840 lines in 5 minutes"}
    """)
    code, out = run([path], influx_server.url)
    assert code == 0, out
    with InfluxClient(InfluxSettings(url=influx_server.url, database="_internal")) as client:
        names = {row[0] for row in client.query_raw("SHOW DATABASES")[0]["series"][0].get("values", [])}
    assert not {name for name in names if name.startswith("rules_test_")}


@pytest.mark.parametrize("batched", [True, False])
def test_a_window_without_data_keeps_the_state(tmp_path, influx_server, batched):
    """Regression: pandas >= 3 keeps NaN in ``stack()``; an empty window then resolved alerts in batches."""
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent("""\
        groups:
          - name: probe
            interval: 1m
            rules:
              - alert: FewSamples
                condition:
                  threshold: {field: temp_max_c, aggregate: count, window: 2m, op: "<", value: 3}
                annotations: {summary: "{{ value }}"}
        """)
    )
    path = write(
        tmp_path,
        """\
        rule_files: [rules.yaml]
        tests:
          - name: gap
            input_series:
              - {series: 'telemetry.temp_max_c{jbox_id="jbox-0001"}', values: '1 1 _ _ 1'}
            alert_rule_test:
              - eval_time: 2m
                alertname: FewSamples
                exp_alerts: [{exp_labels: {jbox_id: jbox-0001}, exp_annotations: {summary: "2.0"}}]
              - eval_time: 4m      # no sample in 2m..4m: no data, the alert keeps firing with its last value
                alertname: FewSamples
                exp_alerts: [{exp_labels: {jbox_id: jbox-0001}, exp_annotations: {summary: "1.0"}}]
        """,
    )
    code, out = run([path], influx_server.url, batched=batched)
    assert code == 0, out
