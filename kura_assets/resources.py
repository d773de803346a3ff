"""Resources of the kura location: where events come from, and the pseudonymization salt."""

from datetime import datetime

import dagster as dg
import pandas as pd

from kura_assets import sources

DEFAULT_PSEUDONYM_SALT = "kura-public-default-salt"


class KuraEventSource(dg.ConfigurableResource):
    """``KURA_EVENTS_URL``: ``demo`` (default), a ``.jsonl`` file, or ``postgresql://...`` (table ``events``)."""

    url: str = "demo"

    def read(self, start: datetime, end: datetime, event_types=sources.DEFAULT_EVENT_TYPES) -> pd.DataFrame:
        return sources.read_events(self.url, start, end, event_types)


class Pseudonymizer(dg.ConfigurableResource):
    """HMAC key for pseudonymous user ids: ``KURA_PSEUDONYM_SALT`` from the environment."""

    salt: str = DEFAULT_PSEUDONYM_SALT

    def warn_if_default(self, log) -> bool:
        if self.salt != DEFAULT_PSEUDONYM_SALT:
            return False
        log.warning(
            "KURA_PSEUDONYM_SALT is not set: pseudonyms use the public default salt, so anyone who can "
            "guess a user id can recompute them. Set KURA_PSEUDONYM_SALT before running on real data."
        )
        return True
