"""`likeness calibrate`'s recognition policy: read off labelled photos (a folder per person)
for a gallery of a given size."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from likeness.engine import FaceEngine
from likeness.media import ImageLimits
from likeness.services.calibration import Tail, calibrate, open_set_rate, pair_rate
from tests.conftest import DATA


def test_the_tail_fit_recovers_an_exponential_tail() -> None:
    scores = np.random.default_rng(0).exponential(0.025, 200_000)
    tail = Tail.fit(scores)
    assert tail is not None and tail.scale == pytest.approx(0.025, rel=0.1)
    assert tail.rate(0.3) == pytest.approx(np.exp(-0.3 / 0.025), rel=0.5)
    assert tail.threshold(tail.rate(0.3)) == pytest.approx(0.3)
    assert Tail.fit(scores[:1000]) is None  # 10 above the 99th percentile: too few
    assert open_set_rate(pair_rate(1e-3, 1680), 1680) == pytest.approx(1e-3)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 people of the dev set, 10 photos each."""
    source = DATA / "celeba_dev"
    if not source.is_dir():
        pytest.fail(f"test data missing: {source} (set LIKENESS_TEST_DATA to shared/data)")
    root = tmp_path_factory.mktemp("labelled")
    for person in sorted(source.iterdir())[:24]:
        shutil.copytree(person, root / person.name)
    return root


def test_a_policy_for_the_gallery_size(engine: FaceEngine, labelled: Path) -> None:
    result = calibrate(engine, labelled, ImageLimits())
    assert result.identities == 24 and result.photos >= 238
    assert len(result.names) == result.photos == len(result.embeddings)
    assert 0.5 < result.enrollable.mean() < 1  # some photos too small or turned to enroll
    scores, low = result.stranger_scores()
    assert len(scores) > 20_000 and 0 < low.mean() < 0.5

    suggestion = result.suggest_policy(1680, 1e-3)
    assert suggestion.tail is not None and "extrapolated" in suggestion.match_how
    # About where the dev set's 286k pairs put it (bench/openset.py: 0.44).
    assert 0.40 <= suggestion.match <= 0.50
    assert suggestion.strangers_matched(suggestion.match) == pytest.approx(1e-3, rel=0.05)
    assert 0.25 <= suggestion.review < suggestion.match
    assert suggestion.margin in (0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10)
    assert 0 <= suggestion.low_quality_raise <= 0.1
    # More people enrolled, more chances for a stranger: a higher threshold.
    small, large = result.suggest_policy(30), result.suggest_policy(100_000)
    assert small.match < suggestion.match < large.match
    assert result.suggest_policy(1680, 1e-2).match < suggestion.match


def test_too_few_photos_keep_the_thresholds(engine: FaceEngine) -> None:
    result = calibrate(engine, DATA / "faces", ImageLimits())
    suggestion = result.suggest_policy(1000, now=(0.43, 0.30))
    assert suggestion.tail is None and "only 110 stranger pairs" in suggestion.match_how
    assert (suggestion.match, suggestion.review) == (0.43, 0.30)  # strangers < 0.2 here
    assert suggestion.strangers_matched(0.43) is None
