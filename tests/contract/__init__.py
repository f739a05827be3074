"""The storage contract, migrations, concurrency and faults: run against every backend."""
