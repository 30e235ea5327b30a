"""Blobs in the configured object storage: an uploaded video is kept there (a location,
`fs://...` or `s3://bucket/...`) rather than in a local folder, so that a worker on
another machine can scan it. A video is read from a server path or from a location,
exactly one.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE videos ADD COLUMN location text, ALTER COLUMN path DROP NOT NULL")
    op.execute("ALTER TABLE videos ADD CONSTRAINT videos_path_or_location "
               "CHECK ((path IS NULL) <> (location IS NULL))")


def downgrade() -> None:
    # Videos kept only in object storage have no server path to fall back on: refuse
    # rather than delete them with their tracks, tags and review items.
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM videos WHERE path IS NULL) THEN
                RAISE EXCEPTION 'videos are kept in object storage (videos.location): '
                    'delete them, or give them a server path, before downgrading';
            END IF;
        END $$""")
    op.execute("ALTER TABLE videos DROP CONSTRAINT videos_path_or_location, "
               "DROP COLUMN location, ALTER COLUMN path SET NOT NULL")
