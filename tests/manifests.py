"""Pinned demo outputs: every written partition's row count, content and input hash, per schema.

A change that moves assets onto another shape must leave these bytes alone; a change meant to
alter outputs rewrites the snapshots (``WRITE_DEMO_MANIFESTS=1``) in the same commit.
"""

import json
import os
from pathlib import Path

from platform_core.warehouse import backend_for, manifest_spec


def manifest_rows(url: str, schema: str) -> list[dict]:
    """Every partition recorded in ``schema``'s manifest, in table and partition order."""
    m = backend_for(url).read(manifest_spec(schema)).sort_values(["table_name", "partition_key"])
    return [
        {"table": t, "partition": k, "rows": int(n), "content_hash": h, "input_hash": i}
        for t, k, n, h, i in zip(
            m["table_name"], m["partition_key"], m["row_count"], m["content_hash"], m["input_hash"]
        )
    ]


def assert_pinned(rows: list[dict], snapshot: Path, at_least: int) -> None:
    if os.environ.get("WRITE_DEMO_MANIFESTS"):
        snapshot.write_text(json.dumps(rows, indent=1) + "\n")
    pinned = json.loads(snapshot.read_text())
    assert len(rows) == len(pinned) >= at_least
    assert rows == pinned
