"""Resources of the kura location: where events come from (the salt is platform_core.resources.Pseudonymizer)."""

from datetime import datetime

import dagster as dg
import duckdb

from kura_assets import sources

DEFAULT_PSEUDONYM_SALT = "kura-public-default-salt"


class KuraEventSource(dg.ConfigurableResource):
    """``KURA_EVENTS_URL``: ``demo`` (default), a ``.jsonl`` file, or ``postgresql://...`` (table ``events``)."""

    url: str = "demo"

    def stage(
        self, con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, event_types=sources.DEFAULT_EVENT_TYPES
    ):
        """The events as table ``raw`` of ``con`` (see :func:`kura_assets.sources.stage_events`)."""
        sources.stage_events(con, self.url, start, end, event_types)
