"""Subscription rules as a table: severity at or above, fault types, actions, suppressed alerts."""

from __future__ import annotations

import pytest

from server.alerts.matching import Rule, matches

EVENT = {"severity": "major", "fault_type": "lamp_failure", "action": "opened", "suppressed": False}

CASES = [
    ("default rule takes a new major alert", Rule(), {}, True),
    ("below the minimum severity", Rule(min_severity="critical"), {}, False),
    ("at the minimum severity", Rule(min_severity="major"), {}, True),
    ("above the minimum severity", Rule(min_severity="major"), {"severity": "critical"}, True),
    ("minor under a major minimum", Rule(min_severity="major"), {"severity": "minor"}, False),
    ("fault type listed", Rule(fault_types=["lamp_failure", "comm_loss"]), {}, True),
    ("fault type not listed", Rule(fault_types=["comm_loss"]), {}, False),
    ("escalation is a default action", Rule(), {"action": "escalated"}, True),
    ("reopening is a default action", Rule(), {"action": "reopened"}, True),
    ("acknowledgement is not a default action", Rule(), {"action": "acknowledged"}, False),
    ("action asked for", Rule(actions=["acknowledged"]), {"action": "acknowledged"}, True),
    ("suppressed alert not sent by default", Rule(), {"suppressed": True}, False),
    ("suppressed alert sent when asked", Rule(include_suppressed=True), {"suppressed": True}, True),
    ("unknown severity errs on the side of sending", Rule(min_severity="critical"), {"severity": "urgent"}, True),
]


@pytest.mark.parametrize(("rule", "change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(rule: Rule, change: dict[str, object], expected: bool) -> None:
    assert matches(rule, **{**EVENT, **change}) is expected  # type: ignore[arg-type]
