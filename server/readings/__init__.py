"""Reading queries shared by the API and reports; the same SQL serves TimescaleDB and plain PostgreSQL."""
