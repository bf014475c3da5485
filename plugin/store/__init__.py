"""Storage behind one port (`port.StoragePort`): `sql.SqlStore` for SQLite and PostgreSQL, and
`memory.MemoryStore` for the simulator. Import the adapter you need from its module."""
