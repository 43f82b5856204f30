"""Which alert history events a subscription wants: pure, so the rules are tested as a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SEVERITIES = ("minor", "major", "critical")  # in increasing order
DEFAULT_ACTIONS = ("opened", "escalated", "reopened")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Rule:
    min_severity: str = "minor"
    fault_types: Sequence[str] | None = None  # None: every type
    actions: Sequence[str] = DEFAULT_ACTIONS
    include_suppressed: bool = False


def matches(rule: Rule, *, severity: str, fault_type: str, action: str, suppressed: bool) -> bool:
    # An unknown severity ranks highest: better one message too many than a missed critical fault.
    if _RANK.get(severity, len(SEVERITIES)) < _RANK.get(rule.min_severity, 0):
        return False
    if rule.fault_types is not None and fault_type not in rule.fault_types:
        return False
    if action not in rule.actions:
        return False
    return rule.include_suppressed or not suppressed
