"""Session-replay video segments -> clusters -> deduplicated, prioritized tasks with segment links,
per enabled team and 30-minute tick."""
