"""The tracker and segment merging, on faces made to order."""

from __future__ import annotations

import numpy as np

from likeness.engine import Face, Quality
from likeness.services.tracking import Tracker, merge_segments, quality_weight


def face(box: tuple[float, float, float, float], embedding: np.ndarray, size: float = 100,
         blur: float = 300, score: float = 0.8) -> Face:
    return Face(bbox=np.array(box, np.float32), det_score=score,
                landmarks=np.zeros((5, 2)), quality=Quality(size, blur, 0, 0, 0),
                embedding=embedding / np.linalg.norm(embedding))


def test_tracks_follow_overlap_and_identity() -> None:
    rng = np.random.default_rng(3)
    ann, bob = rng.normal(size=512), rng.normal(size=512)
    tracker = Tracker(max_gap_ms=2000)
    tracker.update(0, 0, [face((10, 10, 110, 110), ann), face((300, 10, 400, 110), bob)],
                   [b"a", b"b"])
    # both move a little; Ann's face is noisier
    tracker.update(1000, 30, [face((320, 15, 420, 115), bob),
                              face((20, 12, 120, 112), ann + rng.normal(size=512) * 0.5)],
                   [b"b", b"a"])
    # Bob jumps across the frame: no overlap, but clearly him
    tracker.update(2000, 60, [face((600, 300, 700, 400), bob)], [b"b"])
    # long after: a new track even for Ann
    tracker.update(9000, 270, [face((10, 10, 110, 110), ann)], [b"a"])
    spans = sorted((t.first_ms, t.last_ms, len(t.members)) for t in tracker.tracks)
    assert spans == [(0, 1000, 2), (0, 2000, 3), (9000, 9000, 1)]


def test_identity_is_weighted_by_quality() -> None:
    rng = np.random.default_rng(4)
    true, other = rng.normal(size=512), rng.normal(size=512)
    tracker = Tracker(max_gap_ms=2000)
    tracker.update(0, 0, [face((0, 0, 100, 100), true)], [b""])
    tracker.update(1000, 30, [face((0, 0, 100, 100), 0.5 * true + other, size=20, blur=10,
                                    score=0.5)], [b""])
    (track,) = tracker.tracks
    unit = true / np.linalg.norm(true)
    assert float(track.embedding @ unit) > 0.95  # the blurred tiny frame barely counts
    assert quality_weight(track.members[1].face) < 0.1 * quality_weight(track.members[0].face)


def test_merge_segments() -> None:
    assert merge_segments([(5000, 6000), (0, 1000), (2500, 3000), (900, 2000)], 600) == [
        [0, 3000], [5000, 6000]]
