"""Resources of the replay location: where segments come from, and who writes task titles."""

from datetime import datetime

import dagster as dg
import pandas as pd

from replay_assets import sources
from replay_assets.labels import KeywordLabeler, Labeler, LLMLabeler

DEFAULT_PSEUDONYM_SALT = "replay-public-default-salt"


class SegmentSource(dg.ConfigurableResource):
    """``REPLAY_SEGMENTS_URL``: ``demo`` (default), a ``.parquet`` file, or ``clickhouse://...``."""

    url: str = "demo"

    def read(self, team_id: int, start: datetime, end: datetime) -> pd.DataFrame:
        return sources.read_segments_from(self.url, team_id, start, end)

    def enabled_teams(self) -> list[int]:
        return sources.enabled_teams_from(self.url)

    @property
    def has_flags(self) -> bool:
        """Whether the source says which teams are on (ClickHouse's flag table, the demo's teams);
        a file source does not, and every team added to the instance counts as on."""
        return self.url == "demo" or self.url.startswith("clickhouse://")


class TaskLabeler(dg.ConfigurableResource):
    """Keyword labels offline (default); an OpenAI-compatible API when ``REPLAY_LLM_URL`` is set
    (key in ``REPLAY_LLM_API_KEY``), falling back to keywords on any failure."""

    llm_url: str = ""
    api_key: str = ""
    model: str = "gpt-4o-mini"

    def labeler(self) -> Labeler:
        if not self.llm_url:
            return KeywordLabeler()
        return LLMLabeler(self.llm_url, self.api_key or None, model=self.model)

    @property
    def identity(self) -> str:
        """What a replay must match to reuse labels (never the key)."""
        return f"llm:{self.llm_url}:{self.model}" if self.llm_url else "keywords"
