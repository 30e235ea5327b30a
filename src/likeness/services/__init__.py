"""Use cases: what the API, the CLI and jobs call. They take an engine (and later a
database session) and hold the decisions."""
