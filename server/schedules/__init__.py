"""Dimming schedules: the operators' model (profiles, calendars, assignments, overrides), its
compilation to the lamps' config (docs/protocol.md section 9), the reference evaluator, and the
pusher that publishes configs and tracks which version each lamp has in effect."""
