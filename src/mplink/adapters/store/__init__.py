"""The database store: SQLAlchemy 2 tables, repositories and a unit of work; Alembic migrations."""
