"""Dedup: whether a group's flush is news for one integration, judged against the notification log
(what it was last told: firing and resolved fingerprints, and when).

Alertmanager's rule: notify when an alert fires that was not in the last notification, when alerts
resolved that the receiver was told were firing (with ``send_resolved``), when everything resolved
(even without ``send_resolved``, to clear the log), or when ``repeat_interval`` passed; otherwise stay
quiet. A group never notified is news only if something fires.
"""

from __future__ import annotations

from alerting.outbox import LogEntry


def needs_update(entry: LogEntry | None, firing: set[str], resolved: set[str], send_resolved: bool,
                 repeat_s: float, now: float) -> bool:  # fmt: skip
    if entry is None:
        return bool(firing)  # never told: only news of firing alerts is worth sending
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)  # all resolved: tell (and clear the log) if the receiver knew of some
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.at <= now - repeat_s
