"""Statuses, decisions and sources under CHECK constraints (likeness/enums.py).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Written out, not imported: a migration keeps the values of its own time.
CHECKS = {
    ("videos", "status"): ("queued", "scanning", "done", "failed"),
    ("tracks", "status"): ("tagged", "review", "unknown"),
    ("review_items", "status"): ("pending", "approved", "rejected"),
    ("video_tags", "source"): ("scan", "review", "retro"),
    ("photos", "source"): ("upload", "url", "embedding"),
    ("photos", "status"): ("pending", "ready", "failed"),
}


def upgrade() -> None:
    for (table, column), values in CHECKS.items():
        allowed = ", ".join(f"'{v}'" for v in values)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_check "
                   f"CHECK ({column} IN ({allowed}))")


def downgrade() -> None:
    for table, column in CHECKS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_check")
