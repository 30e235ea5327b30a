"""The UI's pages, one module per area; each has a `router`."""

from __future__ import annotations

from likeness.ui.pages import (
    clusters,
    events,
    home,
    live,
    people,
    recognize,
    review,
    settings,
    streams,
    videos,
)

routers = [home.router, people.router, recognize.router, review.router, videos.router,
           clusters.router, events.router, streams.router, live.router,
           settings.router]
