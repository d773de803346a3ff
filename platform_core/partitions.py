"""The partitions a run covers, for the multi-partitioned assets (a key dimension x a time dimension)."""

import dagster as dg


def partitions_by_dimension(context: dg.AssetExecutionContext) -> list[dict[str, str]]:
    """Each partition of a multi-partitioned asset the run covers (one, or a range from a
    backfill), as ``{dimension: key}``."""
    partitions_def = context.assets_def.partitions_def
    return [
        (
            key if isinstance(key, dg.MultiPartitionKey) else partitions_def.get_partition_key_from_str(key)
        ).keys_by_dimension
        for key in context.partition_keys
    ]
