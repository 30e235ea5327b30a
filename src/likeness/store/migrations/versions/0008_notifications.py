"""Notifications: the server's own secrets, kept in the database so that every process
(API, workers, on any machine) shares them across restarts. The first is the key from
which each webhook's signing secret is derived (HMAC-SHA256 of it and the webhook's id),
so that no webhook secret is stored.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE server_secrets (
            name varchar(50) PRIMARY KEY,
            secret bytea NOT NULL CHECK (octet_length(secret) >= 32),
            created_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE server_secrets")
