"""Unknown camera sightings join the clustering (issue 14).

Clusters gain an explicit `scope`: `videos` (the unknown tracks of every video), `event`
(one event's photo faces: event_id set) or `cameras` (the unknown sightings of every camera
stream); a CHECK keeps event_id and the scope in agreement. Sightings remember their
cluster (their quality `weight` exists since 0007), and the detection score, box and
quality of their best face, which the enrollment gates need when a cluster is named. A
sighting can be taken out of a cluster like a track or a photo face.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""ALTER TABLE clusters
        ADD COLUMN scope varchar(10) NOT NULL DEFAULT 'videos'
            CONSTRAINT clusters_scope_check CHECK (scope IN ('videos', 'event', 'cameras'))""")
    op.execute("UPDATE clusters SET scope = 'event' WHERE event_id IS NOT NULL")
    op.execute("ALTER TABLE clusters ADD CONSTRAINT clusters_scope_event_check "
               "CHECK ((scope = 'event') = (event_id IS NOT NULL))")
    op.execute("DROP INDEX clusters_scope")
    op.execute("CREATE INDEX clusters_scope ON clusters (scope, event_id, status, size DESC)")
    op.execute("""ALTER TABLE sightings
        ADD COLUMN cluster_id bigint REFERENCES clusters (id) ON DELETE SET NULL,
        ADD COLUMN det_score real,
        ADD COLUMN bbox jsonb,
        ADD COLUMN quality jsonb""")
    op.execute("CREATE INDEX sightings_cluster ON sightings (cluster_id)")
    op.execute("""ALTER TABLE cluster_exclusions
        ADD COLUMN sighting_id bigint REFERENCES sightings (id) ON DELETE CASCADE,
        ADD CONSTRAINT cluster_exclusions_cluster_id_sighting_id_key
            UNIQUE (cluster_id, sighting_id),
        DROP CONSTRAINT cluster_exclusions_check,
        ADD CONSTRAINT cluster_exclusions_check
            CHECK (num_nonnulls(track_id, photo_face_id, sighting_id) = 1)""")


def downgrade() -> None:
    op.execute("DELETE FROM clusters WHERE scope = 'cameras'")  # their exclusions go too
    op.execute("""ALTER TABLE cluster_exclusions
        DROP CONSTRAINT cluster_exclusions_check,
        DROP COLUMN sighting_id,
        ADD CONSTRAINT cluster_exclusions_check
            CHECK (num_nonnulls(track_id, photo_face_id) = 1)""")
    op.execute("ALTER TABLE sightings DROP COLUMN cluster_id, DROP COLUMN det_score, "
               "DROP COLUMN bbox, DROP COLUMN quality")
    op.execute("DROP INDEX clusters_scope")
    op.execute("CREATE INDEX clusters_scope ON clusters (event_id, status, size DESC)")
    op.execute("ALTER TABLE clusters DROP COLUMN scope")
