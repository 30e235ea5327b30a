"""Quality signals for gating faces later: sharpness of the aligned crop and head pose.

The pose is a geometric estimate from the 5 landmarks (no 3D model): roll is the eye
line's angle; yaw and pitch come from how far the nose tip sits from where it would be
on a frontal face, with the nose modelled as protruding 0.45 eye-to-mouth distances in
front of the face plane (average adult anthropometry). Good to +-15 degrees or so, which
is what "is this face frontal enough to enroll" needs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

NOSE_DEPTH = 0.45  # nose protrusion / eye-to-mouth distance
FRONTAL_NOSE_HEIGHT = 0.495  # nose between eye line (0) and mouth line (1), ArcFace template


def blur_score(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned crop: higher is sharper; under ~50 at
    112x112 the face is visibly blurred."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees. yaw > 0: the nose points to the image's right;
    pitch > 0: the face looks up; roll > 0: the eye line slopes down to the right."""
    left_eye, right_eye, nose, mouth_left, mouth_right = np.asarray(landmarks, np.float64)
    eye_vector = right_eye - left_eye
    roll = math.atan2(eye_vector[1], eye_vector[0])
    cos, sin = math.cos(-roll), math.sin(-roll)
    rotation = np.array([[cos, -sin], [sin, cos]])
    eyes = rotation @ ((left_eye + right_eye) / 2)
    mouth = rotation @ ((mouth_left + mouth_right) / 2)
    nose = rotation @ nose
    eye_to_mouth = mouth[1] - eyes[1]
    if eye_to_mouth <= 1e-6:
        return 0.0, 0.0, math.degrees(roll)
    depth = NOSE_DEPTH * eye_to_mouth
    along = (nose[1] - eyes[1]) / eye_to_mouth
    midline_x = eyes[0] + (mouth[0] - eyes[0]) * along
    yaw = math.asin(float(np.clip((nose[0] - midline_x) / depth, -1, 1)))
    pitch = math.asin(float(np.clip((FRONTAL_NOSE_HEIGHT - along) * eye_to_mouth / depth,
                                    -1, 1)))
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)
