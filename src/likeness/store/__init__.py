"""PostgreSQL + pgvector: models, migrations, the embedded server's lifecycle and every SQL
query. Nothing outside this package writes SQL."""

from likeness.store.database import Database

__all__ = ["Database"]
