"""``jboxmon rules backtest``: replay the real state machine over history and score it.

::

    jboxmon rules backtest --rules rules/default/jbox.yaml --from 2025-11-29T12:00:00Z \\
        --to 2025-11-29T18:00:00Z --truth var/ground_truth.jsonl [--match LogStorm=log_storm] [--json | --csv]

Every group is evaluated at each multiple of its interval in ``[T1, T2]`` by :class:`RuleEngine`, the
code that runs live: the same queries, the same pandas, the same state machine. Evaluation times go
in chunks (an hour, less for large fleets) so memory stays bounded while each rule still runs one
query per chunk. Conditions look back their window before each evaluation time, so the first
evaluations read data from before T1 when there is some.

Definitions (also printed under the table):

- **episode**: one firing period of one rule on one box, from the ``firing`` transition to the
  ``resolved`` one (or T2 when still firing then: "open"). Pending alerts that never fire are not
  episodes. ``alerts`` counts episodes, ``firing`` sums their durations.
- **flap**: an episode that starts less than ``FLAP_GAP_S`` (10 min) after the previous episode of
  the same rule on the same box resolved.
- **warm-up** of a rule: its longest condition window (65 min for a 65-min heartbeat absence).
  When T1 is where the data begins, the first evaluations see a partly empty window, so episodes
  starting before T1 + warm-up are reported apart and not scored. Absence rules do not need this
  excuse: no box is silent for longer than the data has existed (the first point the rules read,
  found before the replay), nor than it has been registered (a box registered after T2 counts as
  registered at T1: history predates the registry).
- **lag** of a rule: ``for`` + window + 2 intervals, how long after a fault's end its alert may
  still start (it needs a full window of bad data and then ``for``).
- an episode on box B **matches** a fault on B when it overlaps ``[fault.start, fault.end + lag)``.
- **precision** (box rules with mapped fault kinds): scored episodes matching a ``should_alert``
  fault of a mapped kind / scored episodes. Fleet rules report counts only.
- **recall**: detectable faults of mapped kinds matched by at least one episode / detectable
  faults. A fault is detectable when ``start >= T1 + warm-up`` (its onset is inside the replay with
  a full window behind it; earlier ones are counted as "early") and ``start + for + window +
  interval <= T2`` (the alert had time to fire before the replay ends; later ones are "late").
- **delay** of a detected fault: first matching episode start - fault start (0 if it was already
  firing); mean, p95 and max over the rule's detected faults.
- **transients**: ``should_alert: false`` events (short power deviations) matched by a scored
  episode of the rule. For SetpointNotFollowed this must be 0.

- **episodes**: every firing period, listed in the text report, in ``--json`` (``episodes``) and as
  ``--csv`` (rule, alert, jbox_id, start, end, duration_s, peak, match); ``match`` is the fault
  matched (``KIND@START``) or ``false alarm`` (see :mod:`rules.backtest.episodes`).

Exit codes: 0 report printed, 1 InfluxDB failed, 2 bad arguments (pointed message on stderr),
3 the window holds no data at all (warning on stderr; the report is still printed).
"""

from __future__ import annotations

from rules.backtest.command import BacktestInputs, BacktestOptions, load_inputs, render, run_backtest
from rules.backtest.replay import Replay, RuleReplay, Timing, replay
from rules.backtest.scoring import count_flaps, delay_stats, score_rule
from rules.backtest.truth import DEFAULT_MATCH, NS, BacktestError, Episode, Fault, load_truth, matches, parse_matches

__all__ = [
    "BacktestInputs",
    "BacktestOptions",
    "load_inputs",
    "NS",
    "DEFAULT_MATCH",
    "BacktestError",
    "Episode",
    "Fault",
    "Replay",
    "RuleReplay",
    "Timing",
    "count_flaps",
    "delay_stats",
    "load_truth",
    "matches",
    "parse_matches",
    "render",
    "replay",
    "run_backtest",
    "score_rule",
]
