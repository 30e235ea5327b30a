"""The cameras page and the cameras' clustering on a loaded database.

    python bench/cameras.py [--photo FACE.jpg]

20 streams, 10,000 sightings (6,000 of 200 people, 4,000 unknown: ~500 strangers seen
4-12 times each, their embeddings synthetic, around a centre at cosine ~0.75), one real
160 px crop for all. Times clustering passes of the cameras' scope, then each page of the
cameras UI (median and p95 of 30 requests through the app). Prints Markdown.
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import DATA, machine
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Decision, Role
from likeness.media import decode_image
from likeness.services.access import AccessService
from likeness.services.clusters import ClusterService
from likeness.services.faces import thumbnail
from likeness.store import Database
from likeness.store.models import Person, Sighting, Stream

PASSWORD = "correct horse battery"
rng = np.random.default_rng(7)
folder = Path(tempfile.mkdtemp(prefix="cameras-"))
settings = Settings(data_dir=folder, model_dir=folder / "models", worker_in_serve=False)
database, engine = Database.open(settings), FaceEngine.from_settings(settings)
face_photo = sys.argv[sys.argv.index("--photo") + 1] if "--photo" in sys.argv else \
    DATA / "faces" / "obama" / "obama_1.jpg"
photo = decode_image(Path(face_photo).read_bytes())  # a photo with a face
crop = thumbnail(photo, engine.analyze(photo)[0])
now = datetime.now(UTC)


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def sighting(k: int, person: int | None, embedding: np.ndarray) -> dict:
    seen = now - timedelta(seconds=7 * k)
    return dict(stream_id=streams[k % 20], person_id=person, similarity=0.5,
                decision=Decision.MATCH if person else Decision.UNKNOWN,
                first_seen_at=seen, last_seen_at=seen + timedelta(seconds=3), detections=12,
                model=engine.model_name, embedding=embedding, weight=0.8, crop_jpeg=crop,
                det_score=0.85, bbox=[0, 0, 90, 90],
                quality={"face_size": 90, "blur": 120, "yaw": 0, "pitch": 0, "roll": 0})


with database.session() as session:
    streams = list(session.scalars(insert(Stream).returning(Stream.id), [
        {"name": f"Camera {i}", "url": f"rtsp://10.0.0.{i}/s", "fps": 5} for i in range(20)]))
    people = list(session.scalars(insert(Person).returning(Person.id), [
        {"name": f"Person {i}", "attributes": {}} for i in range(200)]))
    rows = [sighting(k, people[k % 200], unit(rng.normal(size=512))) for k in range(6000)]
    for centre in rng.normal(size=(500, 512)):
        for _ in range(rng.integers(4, 13)):
            if len(rows) < 10_000:
                rows.append(sighting(len(rows), None,
                                     unit(unit(centre) + rng.normal(0, 0.039, 512))))
    session.execute(insert(Sighting), rows)
    AccessService().add_user(session, "admin", PASSWORD, Role.ADMIN)
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()

clusters, model = ClusterService.from_settings(settings), engine.model_name
with database.session() as session:
    held = list(session.scalars(text("SELECT id FROM sightings WHERE decision = 'unknown' "
                                     "ORDER BY random() LIMIT 100")))
    mark = text("UPDATE sightings SET decision = :to WHERE id = ANY(:ids)")
    session.execute(mark, {"to": "match", "ids": held})  # kept back for the second pass
    session.commit()
    for what, run in (("3,900 unknown sightings, no cluster yet", clusters.update),
                      ("100 more, of strangers clustered already", clusters.update),
                      ("a rebuild of the 4,000", clusters.rebuild)):
        started = time.perf_counter()
        done = run(session, None, model, cameras=True)
        print(f"{what}: {time.perf_counter() - started:.2f} s ({done})")
        session.execute(mark, {"to": "unknown", "ids": held})
        session.commit()

pages = [("/ui/cameras", "the cameras page"), ("/ui/cameras/list", "the streams, polled"),
         ("/ui/cameras/sightings", "the sightings, polled"),
         (f"/ui/cameras/sightings?person_id={people[17]}", "one person's sightings"),
         (f"/ui/cameras/sightings?stream_id={streams[3]}&decision=unknown",
          "one camera's unknown sightings"),
         ("/ui/cameras?offset=9984", "the last page of sightings"),
         ("/ui/clusters?scope=cameras", "unknown faces, the cameras tab")]
with TestClient(create_app(settings, engine=engine, database=database)) as client:
    client.post("/ui/login", data={"username": "admin", "password": PASSWORD, "next": "/ui"})
    print("| page | path | median ms | p95 ms | KB |\n|---|---|---|---|---|")
    for path, name in pages:
        times = []
        for _ in range(33):  # 3 to warm up
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
        times = sorted(times[3:])
        print(f"| {name} | `{path}` | {statistics.median(times):.1f} | {times[28]:.1f} | "
              f"{len(response.content) / 1024:.0f} |")
print(f"\n{machine()}, load average {os.getloadavg()[0]:.1f}")
database.close()
engine.close()
shutil.rmtree(folder, ignore_errors=True)
