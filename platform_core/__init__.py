"""What every system shares: table contracts, partition writes, hashing, determinism checks."""
