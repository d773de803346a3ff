"""What every system shares: table contracts, partition writes, hashing, determinism checks."""

import os

import pyarrow as _pa

# Arrow's default pool (mimalloc) keeps the pages of freed week-sized batches; the system
# allocator hands them back, which keeps a week's backfill within its memory budget
# (bench/kura_bench.py measures the peak). An explicit user choice wins.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    _pa.set_memory_pool(_pa.system_memory_pool())

# The product builds on Dagster APIs marked beta or preview (multi-partition mappings, backfill
# policies) on purpose, pinned to one minor version; the warnings name nothing a user can act on.
import warnings as _warnings

from dagster import BetaWarning as _BetaWarning
from dagster import PreviewWarning as _PreviewWarning

_warnings.filterwarnings("ignore", category=_BetaWarning)
_warnings.filterwarnings("ignore", category=_PreviewWarning)
