"""PostgreSQL/TimescaleDB access: connection setup, migrations, partitions, rollups, retention."""
