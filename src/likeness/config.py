"""All configuration, read once from the environment (and an optional `.env` file).

Every setting has a `LIKENESS_*` name; the older names that existing face-service
deployments use (`PORT`, `ONNX_PROVIDERS`, `INSIGHTFACE_MODEL`, ...) are accepted too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    host: str = Field("127.0.0.1", validation_alias=_env("LIKENESS_HOST", "HOST"),
                      description="Address the HTTP server binds to.")
    port: int = Field(8100, ge=1, le=65535, validation_alias=_env("LIKENESS_PORT", "PORT"),
                      description="HTTP port.")
    model: str = Field("buffalo_s", validation_alias=_env("LIKENESS_MODEL", "INSIGHTFACE_MODEL"),
                       description="Model pack: buffalo_s, buffalo_l, another pack name under "
                                   "model_dir, or a directory holding the .onnx files.")
    model_dir: Path = Field(Path("~/.insightface/models"),
                            validation_alias=_env("LIKENESS_MODEL_DIR", "MODEL_CACHE_DIR"),
                            description="Directory holding one sub-directory per model pack.")
    det_size: Annotated[tuple[int, int], NoDecode] = Field(
        (640, 640), validation_alias=_env("LIKENESS_DET_SIZE", "DET_SIZE"),
        description="Detector input size: '640' or '640,480' (width,height).")
    det_threshold: float = Field(0.5, gt=0, lt=1,
                                 validation_alias=_env("LIKENESS_DET_THRESHOLD", "DET_THRESHOLD"),
                                 description="Minimum detection score of a face.")
    onnx_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("LIKENESS_ONNX_PROVIDERS", "ONNX_PROVIDERS"),
        description="Comma-separated ONNX Runtime providers; empty = best available.")
    onnx_threads: int = Field(1, ge=0, validation_alias=_env("LIKENESS_ONNX_THREADS"),
                              description="Intra-op threads of one inference; 0 = ONNX Runtime's "
                                          "default (one per physical core).")
    inference_workers: int = Field(0, ge=0, validation_alias=_env("LIKENESS_INFERENCE_WORKERS"),
                                   description="Inferences run in parallel; 0 = one per CPU core. "
                                               "workers x threads should equal the core count.")
    log_level: str = Field("info", validation_alias=_env("LIKENESS_LOG_LEVEL", "LOG_LEVEL"),
                           description="Logging level.")
    max_upload_mb: float = Field(20.0, gt=0, validation_alias=_env("LIKENESS_MAX_UPLOAD_MB"),
                                 description="Largest accepted image file, in MB (413 above).")
    max_image_megapixels: float = Field(
        50.0, gt=0, validation_alias=_env("LIKENESS_MAX_IMAGE_MEGAPIXELS"),
        description="Largest accepted image, in megapixels, checked before decoding (413 above).")
    database_url: str | None = Field(
        None, validation_alias=_env("LIKENESS_DATABASE_URL", "DATABASE_URL"),
        description="PostgreSQL URL (postgresql://user:pass@host/db); unset = an embedded "
                    "server in data_dir.")
    data_dir: Path = Field(Path("./data"), validation_alias=_env("LIKENESS_DATA_DIR"),
                           description="Where the embedded PostgreSQL keeps its files.")
    embedded_shared_buffers: str = Field(
        "1GB", pattern=r"^\d+(kB|MB|GB)$",
        validation_alias=_env("LIKENESS_EMBEDDED_SHARED_BUFFERS"),
        description="The embedded server's shared_buffers: the HNSW index and the rows it "
                    "points to should fit (about 4 kB per face).")
    match_threshold: float | None = Field(
        None, ge=-1, le=1, validation_alias=_env("LIKENESS_MATCH_THRESHOLD"),
        description="1:N: similarity from which a face is recognised; default: the pack's.")
    review_threshold: float | None = Field(
        None, ge=-1, le=1, validation_alias=_env("LIKENESS_REVIEW_THRESHOLD"),
        description="1:N: similarity from which a face is worth a person's review; "
                    "default: the pack's.")
    match_margin: float = Field(
        0.0, ge=0, le=1, validation_alias=_env("LIKENESS_MATCH_MARGIN"),
        description="1:N: a face is matched only when its person scores this far above the "
                    "face's next candidate, else it goes to review; 0 = off.")
    match_low_quality_raise: float = Field(
        0.0, ge=0, le=1, validation_alias=_env("LIKENESS_MATCH_LOW_QUALITY_RAISE"),
        description="1:N: added to the match threshold for a face the enrollment gate would "
                    "refuse (too small, blurred or unclear, or turned past enroll_max_yaw); "
                    "0 = off (such faces' stranger scores measured no higher).")
    person_score: Literal["best", "centroid"] = Field(
        "best", validation_alias=_env("LIKENESS_PERSON_SCORE"),
        description="1:N: how a person with several faces is scored: best = the similarity "
                    "of their most similar face; centroid = of the normalised mean of their "
                    "faces (more right matches at several faces a person, strangers no "
                    "likelier to pass; the similarity reported is then the centroid's).")
    flip_embeddings: bool = Field(
        False, validation_alias=_env("LIKENESS_FLIP_EMBEDDINGS"),
        description="Average each face's embedding with its mirror image's: a little more "
                    "accurate, twice the recognizer time, and no longer InsightFace's "
                    "embeddings (cosine ~0.99 to them).")
    enroll_min_face_size: float = Field(
        48, ge=0, validation_alias=_env("LIKENESS_ENROLL_MIN_FACE_SIZE"),
        description="Enrollment: smallest face (shorter box side, pixels).")
    enroll_min_blur: float = Field(
        40, ge=0, validation_alias=_env("LIKENESS_ENROLL_MIN_BLUR"),
        description="Enrollment: lowest sharpness (variance of the Laplacian of the crop).")
    enroll_min_det_score: float = Field(
        0.6, ge=0, le=1, validation_alias=_env("LIKENESS_ENROLL_MIN_DET_SCORE"),
        description="Enrollment: lowest detection score.")
    enroll_max_yaw: float = Field(
        90, gt=0, le=90, validation_alias=_env("LIKENESS_ENROLL_MAX_YAW"),
        description="Enrollment: a person's first face must be turned less than this many "
                    "degrees left or right (later faces may be turned); 90 = off. 30 gains "
                    "3.8 points of right matches on the dev set where people have a "
                    "frontal photo to give; off by default, since a refused person is not "
                    "enrolled at all.")
    hnsw_ef_search: int = Field(
        100, ge=1, le=1000, validation_alias=_env("LIKENESS_HNSW_EF_SEARCH"),
        description="pgvector HNSW candidate list size per search: recall against speed.")
    ivfflat_probes: int = Field(
        35, ge=1, le=32768, validation_alias=_env("LIKENESS_IVFFLAT_PROBES"),
        description="IVFFlat cells scanned per search and shard, for galleries indexed with "
                    "IVFFlat (`likeness db reindex`): recall against speed.")
    vector_backend: Literal["pgvector", "milvus"] = Field(
        "pgvector", validation_alias=_env("LIKENESS_VECTOR_BACKEND"),
        description="Which index answers vector searches: pgvector (in PostgreSQL) or "
                    "milvus. PostgreSQL keeps every embedding either way; Milvus is an index "
                    "fed from it (docs/vector-index.md).")
    milvus_uri: str | None = Field(
        None, validation_alias=_env("LIKENESS_MILVUS_URI"),
        description="Milvus server (http://host:19530) or a file path, which runs "
                    "milvus-lite in-process; default with the milvus backend: "
                    "data_dir/milvus.db.")
    milvus_token: str | None = Field(
        None, validation_alias=_env("LIKENESS_MILVUS_TOKEN"),
        description="Milvus credentials (user:password or an API key), if the server "
                    "needs them.")
    milvus_collection_prefix: str = Field(
        "likeness", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,30}$",
        validation_alias=_env("LIKENESS_MILVUS_COLLECTION_PREFIX"),
        description="Prefix of the Milvus collections' names (several deployments can "
                    "share one Milvus).")
    video_fps: float = Field(1.0, gt=0, le=60, validation_alias=_env("LIKENESS_VIDEO_FPS"),
                             description="Frames sampled per second of video.")
    max_video_mb: float = Field(4096, gt=0, validation_alias=_env("LIKENESS_MAX_VIDEO_MB"),
                                description="Largest video upload, in MB.")
    allow_server_paths: bool = Field(
        False, validation_alias=_env("LIKENESS_ALLOW_SERVER_PATHS"),
        description="Let POST /videos name a file on the server instead of uploading it.")
    worker_in_serve: bool = Field(True, validation_alias=_env("LIKENESS_WORKER_IN_SERVE"),
                                  description="`likeness serve` also runs a job worker.")
    watch_dir: Path | None = Field(None, validation_alias=_env("LIKENESS_WATCH_DIR"),
                                   description="`likeness serve` also watches this folder "
                                               "for new videos.")
    job_stall_seconds: float = Field(
        30, gt=0, validation_alias=_env("LIKENESS_JOB_STALL_SECONDS"),
        description="A job whose worker sent no heartbeat for this long is retried.")
    storage: Literal["filesystem", "s3"] = Field(
        "filesystem", validation_alias=_env("LIKENESS_STORAGE"),
        description="Where uploaded videos, annotated images and kept originals go: "
                    "filesystem or s3 (s3 lets workers on other machines scan uploads).")
    storage_dir: Path | None = Field(
        None, validation_alias=_env("LIKENESS_STORAGE_DIR"),
        description="Root of filesystem storage; default: data_dir/objects.")
    s3_bucket: str | None = Field(None, validation_alias=_env("LIKENESS_S3_BUCKET"),
                                  description="S3 bucket of s3 storage.")
    s3_endpoint_url: str | None = Field(
        None, validation_alias=_env("LIKENESS_S3_ENDPOINT_URL"),
        description="S3-compatible endpoint (MinIO: http://host:9000); unset = AWS.")
    s3_region: str | None = Field(None, validation_alias=_env("LIKENESS_S3_REGION"),
                                  description="S3 region; default us-east-1.")
    s3_access_key_id: str | None = Field(
        None, validation_alias=_env("LIKENESS_S3_ACCESS_KEY_ID"),
        description="S3 access key; unset = boto3's usual sources (AWS_* variables, ...).")
    s3_secret_access_key: str | None = Field(
        None, validation_alias=_env("LIKENESS_S3_SECRET_ACCESS_KEY"),
        description="S3 secret key.")
    s3_create_bucket: bool = Field(False, validation_alias=_env("LIKENESS_S3_CREATE_BUCKET"),
                                   description="Create the bucket on first write if missing.")
    keep_originals: bool = Field(False, validation_alias=_env("LIKENESS_KEEP_ORIGINALS"),
                                 description="Also store ingested original photos.")
    fetch_allow_private: bool = Field(
        False, validation_alias=_env("LIKENESS_FETCH_ALLOW_PRIVATE"),
        description="Let image URLs point at private, loopback and link-local addresses "
                    "(off: protects internal services from SSRF).")
    fetch_timeout_s: float = Field(15, gt=0, le=300,
                                   validation_alias=_env("LIKENESS_FETCH_TIMEOUT_S"),
                                   description="Longest download of one image URL, seconds.")
    fetch_max_redirects: int = Field(3, ge=0, le=10,
                                     validation_alias=_env("LIKENESS_FETCH_MAX_REDIRECTS"),
                                     description="Redirects followed per image URL.")
    match_top_k: int = Field(20, ge=1, le=1000, validation_alias=_env("LIKENESS_MATCH_TOP_K"),
                             description="Events: photos returned by a selfie match.")
    grpc_port: int | None = Field(None, ge=1, le=65535,
                                  validation_alias=_env("LIKENESS_GRPC_PORT"),
                                  description="`likeness serve` also serves gRPC on this port.")
    bootstrap_api_key: str | None = Field(
        None, min_length=16, validation_alias=_env("LIKENESS_BOOTSTRAP_API_KEY"),
        description="An admin API key with this value is created at start if missing "
                    "(automation, compose files); only its hash is stored.")
    session_days: float = Field(14, gt=0, le=365, validation_alias=_env("LIKENESS_SESSION_DAYS"),
                                description="How long a login's session cookie lasts, days.")
    cookie_secure: bool = Field(False, validation_alias=_env("LIKENESS_COOKIE_SECURE"),
                                description="Send the session cookie over HTTPS only (set it "
                                            "behind a TLS proxy).")
    auth_failures_per_minute: int = Field(
        10, ge=1, le=1_000_000, validation_alias=_env("LIKENESS_AUTH_FAILURES_PER_MINUTE"),
        description="Failed logins and wrong keys allowed per client address and minute "
                    "(429 above).")
    share_matches_per_minute: int = Field(
        30, ge=1, le=10_000, validation_alias=_env("LIKENESS_SHARE_MATCHES_PER_MINUTE"),
        description="Selfie searches allowed per share link and minute (429 above).")
    stream_slots: int = Field(
        4, ge=0, le=64, validation_alias=_env("LIKENESS_STREAM_SLOTS"),
        description="Camera streams one worker runs at once (each holds a slot while it "
                    "runs); 0: this worker runs none.")
    metrics_public: bool = Field(
        False, validation_alias=_env("LIKENESS_METRICS_PUBLIC"),
        description="Serve GET /metrics without credentials (for a Prometheus on a private "
                    "network); otherwise it needs a viewer key.")
    mqtt_url: str | None = Field(
        None, validation_alias=_env("LIKENESS_MQTT_URL"),
        description="MQTT broker for notifications, e.g. mqtt://user:pass@host:1883; "
                    "unset: no MQTT.")
    mqtt_topic_prefix: str = Field(
        "likeness", min_length=1, max_length=100,
        validation_alias=_env("LIKENESS_MQTT_TOPIC_PREFIX"),
        description="MQTT topics start with this: PREFIX/sighting/CAMERA/PERSON, ...")
    verify_threshold: float | None = Field(
        None, ge=-1, le=1, validation_alias=_env("LIKENESS_VERIFY_THRESHOLD"),
        description="Cosine similarity above which two faces are the same person; "
                    "default: the value calibrated for the model pack.")

    @field_validator("det_size", mode="before")
    @classmethod
    def _parse_det_size(cls, value: object) -> object:
        if isinstance(value, int):
            return (value, value)
        if isinstance(value, str):
            parts = [p for p in value.replace("x", ",").split(",") if p.strip()]
            if len(parts) == 1:
                return (int(parts[0]), int(parts[0]))
            if len(parts) == 2:
                return (int(parts[0]), int(parts[1]))
            raise ValueError("det_size must be '640' or 'width,height'")
        return value

    @field_validator("det_size")
    @classmethod
    def _check_det_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if any(v < 32 or v % 32 for v in value):
            raise ValueError("det_size sides must be multiples of 32, at least 32")
        return value

    @field_validator("onnx_providers", mode="before")
    @classmethod
    def _parse_providers(cls, value: object) -> object:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @property
    def work_dir(self) -> Path:
        """This process's scratch space: uploads being received, downloads being
        scanned. Never shared between machines."""
        return self.data_dir.expanduser() / "tmp"

    @property
    def legacy_uploads_dir(self) -> Path:
        """Where uploaded videos were kept before object storage held them."""
        return self.data_dir.expanduser() / "videos"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_image_pixels(self) -> int:
        return int(self.max_image_megapixels * 1_000_000)


@lru_cache
def get_settings() -> Settings:
    return Settings()
