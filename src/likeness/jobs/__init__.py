"""Background jobs: video scans on a PostgreSQL queue (procrastinate), workers, and the
watch folder."""
