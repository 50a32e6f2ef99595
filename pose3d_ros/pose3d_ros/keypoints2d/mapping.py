"""MediaPipe landmarks (pose 33, face mesh 468/478, hands 2 x 21) -> COCO-WholeBody 133 keypoints.

The tables below are the whole mapping; ``to_wholebody`` applies them to every person of a frame at once with
numpy index arrays (no per-joint Python loop except the shared ``fill_missing`` convention).

Left and right are the person's own sides everywhere: MediaPipe's pose landmark "left_shoulder" and Holistic's
``left_hand_landmarks`` are the person's left, as are COCO-WholeBody's "left_*" joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pose3d_ros.skeleton import FACE_OFFSET, LEFT_HAND_OFFSET, RIGHT_HAND_OFFSET, WHOLEBODY133

NUM_POSE_LANDMARKS = 33
NUM_FACE_MESH_LANDMARKS = 468  # the 478-point refined mesh adds 10 iris points after these; they are not used
NUM_HAND_LANDMARKS = 21

# --------------------------------------------------------------------------------------------------
# Body and feet: COCO-WholeBody joint <- MediaPipe pose landmark
# --------------------------------------------------------------------------------------------------
BODY_FROM_POSE = (
    (0, 0),    # nose <- nose
    (1, 2),    # left_eye <- left_eye (the pupil centre; 1 and 3 are the eye's inner/outer corners)
    (2, 5),    # right_eye <- right_eye
    (3, 7),    # left_ear <- left_ear
    (4, 8),    # right_ear <- right_ear
    (5, 11),   # left_shoulder
    (6, 12),   # right_shoulder
    (7, 13),   # left_elbow
    (8, 14),   # right_elbow
    (9, 15),   # left_wrist
    (10, 16),  # right_wrist
    (11, 23),  # left_hip
    (12, 24),  # right_hip
    (13, 25),  # left_knee
    (14, 26),  # right_knee
    (15, 27),  # left_ankle
    (16, 28),  # right_ankle
    (17, 31),  # left_big_toe <- left_foot_index (MediaPipe's single toe point, at the front of the foot)
    (19, 29),  # left_heel <- left_heel
    (20, 32),  # right_big_toe <- right_foot_index
    (22, 30),  # right_heel <- right_heel
)

# Small toes: MediaPipe has one toe point per foot, so the little toe is estimated from the foot's geometry.
# (COCO joint, toe landmark, heel landmark, same-side hip, other-side hip). See ``_small_toes``.
SMALL_TOE_FROM_FOOT = (
    (18, 31, 29, 23, 24),  # left_small_toe from the left foot; outwards = towards the person's left
    (21, 32, 30, 24, 23),  # right_small_toe from the right foot
)
SMALL_TOE_BACK = 0.2
"""The little toe's tip lies this fraction of the heel-to-toe length behind the toe point (toe tips slant)."""
SMALL_TOE_OUT = 0.25
"""... and this fraction of the heel-to-toe length outwards (lateral), i.e. about half a forefoot's width."""
SMALL_TOE_CONFIDENCE = 0.5
"""An estimated small toe gets this factor times the lower of the toe's and the heel's visibility."""

# --------------------------------------------------------------------------------------------------
# Face: iBUG 300-W 68 points <- face-mesh vertices
# --------------------------------------------------------------------------------------------------
# Each iBUG point is one mesh vertex or the mean of two vertices that bracket it along a contour. Source:
# P. Yan's MediaPipe-to-dlib correspondence (github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks, mp2dlib.py),
# changed where checking it on a frontal face (skimage.data.astronaut()) showed a better fit to the iBUG markup:
# the table is made mirror-symmetric (the mesh is: vertex pairs such as 132/361 are each other's mirror), points
# that iBUG spaces evenly along the jaw and lips are picked evenly along the mesh's contours (jaw 2, 6, 7, 9, 10, 13,
# 14; lips 49, 53, 56, 58, 61, 63, 65, 67), and the nose tip is vertex 1, MediaPipe's own nose-tip vertex.
# "Right" is the subject's right (the image left for a face looking at the camera).
FACE_FROM_MESH = (
    # jaw, from the subject's right ear-level (0) around the chin (8) to the left (16)
    (127,), (234,), (93, 132), (132, 58), (58, 172), (136,), (150, 149), (176, 148), (152,),
    (377, 400), (378, 379), (365,), (397, 288), (288, 361), (361, 323), (454,), (356,),
    # right brow, outer -> inner (17-21); left brow, inner -> outer (22-26): the upper brow contour
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    # nose bridge, top -> tip (27-30); lower nose, subject's right -> left (31-35)
    (168, 6), (197, 195), (5,), (1,),
    (75,), (97,), (2,), (326,), (305,),
    # right eye (36-41) and left eye (42-47): corners and the eyelids at one and two thirds
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips: right corner (48), upper lip to the left corner (54), lower lip back (55-59)
    (61,), (40, 39), (37,), (0,), (267,), (269, 270), (291,),
    (321,), (314, 405), (17,), (84, 181), (91,),
    # inner lips: right corner (60), upper (61-63), left corner (64), lower (65-67)
    (78,), (81,), (13,), (311,), (308,), (402,), (14,), (178,),
)
# (68, 2) vertex pairs; a single vertex is paired with itself so that one mean covers both cases.
FACE_MESH_PAIRS = np.array([pair if len(pair) == 2 else pair * 2 for pair in FACE_FROM_MESH], dtype=np.intp)
FACE_MESH_USED = np.unique(FACE_MESH_PAIRS)
"""The mesh vertices the mapping reads; backends need only fill these rows of ``MediaPipeLandmarks.face``."""

FACE_NOSE_TIP_VERTEX = 1  # the mesh vertex at the nose tip, which multi-person association compares to the body nose

# --------------------------------------------------------------------------------------------------
# Hands: MediaPipe's 21 hand landmarks are already in COCO-WholeBody's hand order (wrist, then 4 per finger
# from thumb to little finger, base to tip), so hand landmark k -> joint HAND_OFFSET + k.
# --------------------------------------------------------------------------------------------------

# Confidences of the parts MediaPipe gives no per-landmark score for. Holistic only outputs a face or a hand that
# passed its internal presence threshold (0.5), so a found part is reported with this fixed, documented value.
FACE_CONFIDENCE = 0.8
HAND_CONFIDENCE = 0.8

_BODY_JOINTS, _BODY_LANDMARKS = (np.array(column, dtype=np.intp) for column in zip(*BODY_FROM_POSE, strict=True))
_SMALL_TOE = np.array(SMALL_TOE_FROM_FOOT, dtype=np.intp)
_FACE_JOINTS = np.arange(FACE_OFFSET, FACE_OFFSET + 68)
HAND_ROOT_WRISTS = ((LEFT_HAND_OFFSET, 9), (RIGHT_HAND_OFFSET, 10))
"""(hand root joint, body wrist joint) of the left and right hand: one point of the body seen by two models. Where
the hand model found no hand, the root takes the pose model's wrist (position and confidence)."""


@dataclass
class MediaPipeLandmarks:
    """One frame's MediaPipe output for P people, in pixels of the source image; the backends' common output.

    ``hands[:, 0]`` is the person's left hand, ``hands[:, 1]`` the right. Rows of parts not found are ignored.
    """

    pose: np.ndarray
    """(P, 33, 4) float32: x, y in pixels, z (depth relative to the hips, on x's pixel scale), visibility."""
    face: np.ndarray
    """(P, 468, 2) float32 face-mesh vertices in pixels (only the rows in FACE_MESH_USED are read)."""
    face_found: np.ndarray
    """(P,) bool."""
    hands: np.ndarray
    """(P, 2, 21, 2) float32 hand landmarks in pixels, [left, right]."""
    hands_found: np.ndarray
    """(P, 2) bool."""
    face_confidence: np.ndarray
    """(P,) float32 confidence of a found face (FACE_CONFIDENCE unless the backend knows better)."""
    hands_confidence: np.ndarray
    """(P, 2) float32 confidence of a found hand (HAND_CONFIDENCE unless the backend knows better)."""

    @classmethod
    def allocate(cls, num_people: int) -> MediaPipeLandmarks:
        """Zeroed arrays for ``num_people`` people, every part marked not found."""
        return cls(
            pose=np.zeros((num_people, NUM_POSE_LANDMARKS, 4), np.float32),
            face=np.zeros((num_people, NUM_FACE_MESH_LANDMARKS, 2), np.float32),
            face_found=np.zeros(num_people, bool),
            hands=np.zeros((num_people, 2, NUM_HAND_LANDMARKS, 2), np.float32),
            hands_found=np.zeros((num_people, 2), bool),
            face_confidence=np.full(num_people, FACE_CONFIDENCE, np.float32),
            hands_confidence=np.full((num_people, 2), HAND_CONFIDENCE, np.float32),
        )

    @property
    def num_people(self) -> int:
        return len(self.pose)


def _small_toes(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the little toes' tips, (P, 2, 2) pixels and (P, 2) confidences.

    The foot is the heel -> toe vector in MediaPipe's pseudo-3D image space (x, y, z all in pixels). The little toe
    lies SMALL_TOE_BACK of the foot's length back from the toe point and SMALL_TOE_OUT of it outwards, along the
    hip-to-hip direction (away from the other leg) made perpendicular to the foot. Dropping z projects it back
    onto the image, so a foot seen side-on gets its little toe next to the big toe, as it should.
    """
    _, toe, heel, hip, other_hip = _SMALL_TOE.T
    toe_xyz, heel_xyz = pose[:, toe, :3], pose[:, heel, :3]
    foot = toe_xyz - heel_xyz
    length = np.linalg.norm(foot, axis=-1, keepdims=True)
    forward = foot / np.maximum(length, 1e-6)
    outward = pose[:, hip, :3] - pose[:, other_hip, :3]
    outward -= np.sum(outward * forward, axis=-1, keepdims=True) * forward
    outward /= np.maximum(np.linalg.norm(outward, axis=-1, keepdims=True), 1e-6)
    tip = toe_xyz - SMALL_TOE_BACK * foot + SMALL_TOE_OUT * length * outward
    confidence = SMALL_TOE_CONFIDENCE * np.minimum(pose[:, toe, 3], pose[:, heel, 3])
    return tip[..., :2], confidence


def to_wholebody(landmarks: MediaPipeLandmarks, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Map a frame's landmarks to COCO-WholeBody: kp2d (P, 133, 2) float32 pixels and conf (P, 133) in [0, 1].

    Confidence: body joints take MediaPipe's pose visibility, estimated small toes a reduced one, found faces and
    hands their part's confidence (FACE_CONFIDENCE / HAND_CONFIDENCE unless the backend sets it), parts not found
    0, except a lost hand's root, which is the body's wrist (HAND_ROOT_WRISTS). A keypoint outside the image
    (MediaPipe extrapolates cut-off limbs and faces) or with non-finite coordinates is not observed: confidence 0.
    Joints with confidence 0 are placed by the skeleton's ``fill_missing`` convention (on their nearest observed
    ancestor).
    """
    num_people = landmarks.num_people
    kp2d = np.zeros((num_people, WHOLEBODY133.num_joints, 2), np.float32)
    conf = np.zeros((num_people, WHOLEBODY133.num_joints), np.float32)
    if num_people == 0:
        return kp2d, conf
    pose = landmarks.pose
    kp2d[:, _BODY_JOINTS] = pose[:, _BODY_LANDMARKS, :2]
    conf[:, _BODY_JOINTS] = pose[:, _BODY_LANDMARKS, 3]
    kp2d[:, _SMALL_TOE[:, 0]], conf[:, _SMALL_TOE[:, 0]] = _small_toes(pose)

    kp2d[:, _FACE_JOINTS] = landmarks.face[:, FACE_MESH_PAIRS].mean(axis=2)
    conf[:, _FACE_JOINTS] = np.where(landmarks.face_found, landmarks.face_confidence, 0.0)[:, None]

    for side, (offset, wrist) in enumerate(HAND_ROOT_WRISTS):
        joints = slice(offset, offset + NUM_HAND_LANDMARKS)
        kp2d[:, joints] = landmarks.hands[:, side]
        conf[:, joints] = np.where(landmarks.hands_found[:, side], landmarks.hands_confidence[:, side], 0.0)[:, None]
        lost = ~landmarks.hands_found[:, side]  # the hand's root is the body's wrist, seen by the pose model
        kp2d[lost, offset], conf[lost, offset] = kp2d[lost, wrist], conf[lost, wrist]

    width, height = image_size
    x, y = kp2d[..., 0], kp2d[..., 1]
    observed = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)  # also False for NaN
    conf = np.where(observed, np.clip(np.nan_to_num(conf), 0.0, 1.0), 0.0).astype(np.float32)
    kp2d = WHOLEBODY133.fill_missing(np.where(observed[..., None], kp2d, 0.0).astype(np.float32), conf > 0)
    return kp2d, conf
