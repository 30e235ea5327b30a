from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProcessPhotoRequest(_message.Message):
    __slots__ = ("photo_id", "image_url", "image_bytes", "event_id", "top_k")
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    photo_id: str
    image_url: str
    image_bytes: bytes
    event_id: int
    top_k: int
    def __init__(self, photo_id: _Optional[str] = ..., image_url: _Optional[str] = ..., image_bytes: _Optional[bytes] = ..., event_id: _Optional[int] = ..., top_k: _Optional[int] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("person_id", "name", "similarity")
    PERSON_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    person_id: int
    name: str
    similarity: float
    def __init__(self, person_id: _Optional[int] = ..., name: _Optional[str] = ..., similarity: _Optional[float] = ...) -> None: ...

class FaceResult(_message.Message):
    __slots__ = ("bbox", "det_score", "decision", "person", "candidates")
    BBOX_FIELD_NUMBER: _ClassVar[int]
    DET_SCORE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    bbox: Box
    det_score: float
    decision: str
    person: Candidate
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, bbox: _Optional[_Union[Box, _Mapping]] = ..., det_score: _Optional[float] = ..., decision: _Optional[str] = ..., person: _Optional[_Union[Candidate, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class ProcessPhotoResponse(_message.Message):
    __slots__ = ("photo", "photo_id", "created", "faces", "annotated_location", "annotated_path", "model")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    PHOTO_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_LOCATION_FIELD_NUMBER: _ClassVar[int]
    ANNOTATED_PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    photo: int
    photo_id: str
    created: bool
    faces: _containers.RepeatedCompositeFieldContainer[FaceResult]
    annotated_location: str
    annotated_path: str
    model: str
    def __init__(self, photo: _Optional[int] = ..., photo_id: _Optional[str] = ..., created: _Optional[bool] = ..., faces: _Optional[_Iterable[_Union[FaceResult, _Mapping]]] = ..., annotated_location: _Optional[str] = ..., annotated_path: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "version", "model", "onnx_providers")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ONNX_PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    status: str
    version: str
    model: str
    onnx_providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status: _Optional[str] = ..., version: _Optional[str] = ..., model: _Optional[str] = ..., onnx_providers: _Optional[_Iterable[str]] = ...) -> None: ...
