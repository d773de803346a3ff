"""Session-replay video segments -> clusters -> deduplicated, prioritized tasks (issue 4, in progress:
the pure core; the Dagster location follows)."""
