"""Face detection, alignment, embedding and quality on ONNX Runtime."""

from likeness.engine.face_engine import Face, FaceEngine, Quality

__all__ = ["Face", "FaceEngine", "Quality"]
