"""launch_testing: the whole pipeline on a short video must publish sane 3D skeletons, of several people.

The shared video shows several people walking (the movenet backend finds 2 to 4 per frame); the tests check one
person's skeleton, then what matters for several: distinct ids in one message, the same id for a person from one
message to the next and from one stage to the next, one REP-155 body and TF frame per person, one marker
namespace per person; and the refined skeletons again in the video source's camera_link frame (output_frame).

Runs under ``colcon test`` where ROS 2 (with launch_testing) is installed and the shared development video is
present; anywhere else it is skipped with the reason.
"""

import os
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("launch_testing", reason="launch_testing (ROS 2) is not installed")
rclpy = pytest.importorskip("rclpy", reason="rclpy (ROS 2) is not installed")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import numpy as np  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from pose3d_ros.markers import (  # noqa: E402
    ADD,
    BONES_ID,
    DELETEALL,
    JOINTS_ID,
    LABEL_ID,
    LINE_LIST,
    SPHERE_LIST,
    TEXT_VIEW_FACING,
)
from pose3d_ros.messages import skeleton3d_to_numpy, wholebody2d_to_numpy  # noqa: E402
from pose3d_ros.skeleton import JointStatus  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VIDEO = Path(os.environ.get("POSE3D_SHARED_DATA", REPO.parent / "shared" / "data")) / "video" / "mmpose_demo.mp4"
if not VIDEO.is_file():
    pytest.skip(f"{VIDEO} not found: the launch test needs the shared development video", allow_module_level=True)

TIMEOUT_S = 120.0
SEVERAL_S = 5.0  # five loops of the video: every message of every topic that several-people tests look at
BODY = slice(0, 17)  # the COCO body joints of wholebody133 (MoveNet's own)
HIPS = [11, 12]


def stamp(msg):
    header = msg.header if hasattr(msg, "header") else msg.markers[0].header
    return header.stamp.sec, header.stamp.nanosec


def people(msg):
    return msg.people if hasattr(msg, "people") else msg.skeletons


def has_people(msg):
    return bool(people(msg)) if hasattr(msg, "people") or hasattr(msg, "skeletons") else True


def same_person(before, after, p, max_distance):
    """Index of person ``p`` of frame ``before`` in frame ``after`` (the one whose confident body joints lie
    nearest theirs, median distance under ``max_distance`` pixels), or None: they left the view.
    """
    distances = []
    for q in range(len(after.person_ids)):
        joints = (before.conf[p, BODY] > 0.3) & (after.conf[q, BODY] > 0.3)
        moved = np.linalg.norm(before.kp2d[p, BODY] - after.kp2d[q, BODY], axis=-1)[joints]
        distances.append(np.median(moved) if joints.sum() >= 4 else np.inf)
    if not distances or min(distances) > max_distance:
        return None
    return int(np.argmin(distances))


@pytest.mark.launch_test
def generate_test_description():
    pipeline = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(get_package_share_directory("pose3d_ros"), "launch",
                                                   "pipeline.launch.py")),
        # the shared video is 5 frames long: played in a loop so that every node is active before it ends
        launch_arguments={"source": str(VIDEO), "loop": "true", "use_temporal": "true", "rviz": "false",
                          "device": "cpu", "hri": "true", "output_frame": "camera_link"}.items(),
    )
    return launch.LaunchDescription([pipeline, launch_testing.actions.ReadyToTest()])


class TestSkeletonsArrive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("pose3d_launch_test")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _collect(self, topics, seconds):
        """Messages per topic ({topic: message class}), for ``seconds`` after every topic has had a message (with
        people, for keypoints and skeletons).
        """
        received = {topic: [] for topic in topics}
        subscriptions = [self.node.create_subscription(cls, topic, received[topic].append, 10)
                         for topic, cls in topics.items()]
        deadline, stop = time.monotonic() + TIMEOUT_S, None
        while time.monotonic() < (stop or deadline):
            rclpy.spin_once(self.node, timeout_sec=0.2)
            if stop is None and all(any(has_people(msg) for msg in messages) for messages in received.values()):
                stop = time.monotonic() + seconds
        for subscription in subscriptions:
            self.node.destroy_subscription(subscription)
        for topic, messages in received.items():
            self.assertTrue(messages, f"nothing on {topic} within {TIMEOUT_S:.0f} s")
        return received

    def _first_people(self, topic):
        from pose3d_ros_msgs.msg import Skeleton3DArray

        messages = self._collect({topic: Skeleton3DArray}, 0.0)[topic]
        people = [msg for msg in messages if msg.skeletons]
        self.assertTrue(people, f"no skeleton on {topic} within {TIMEOUT_S:.0f} s")
        return people[0]

    def _check(self, msg):
        """The person nearest the camera (the video's far walkers are some 60 pixels tall: the lifter makes their
        shoulders narrower than a human's) must be a sane human in front of the camera.
        """
        frame = skeleton3d_to_numpy(msg)
        self.assertEqual(msg.header.frame_id, "camera_optical_frame")
        self.assertEqual(frame.positions.shape[1:], (133, 3))
        self.assertTrue(np.isfinite(frame.positions).all())
        near = int(np.argmin(frame.positions[:, HIPS, 2].mean(axis=1)))
        pelvis = frame.positions[near, HIPS].mean(axis=0)
        self.assertGreater(pelvis[2], 0.5, "the person must stand in front of the camera")
        self.assertLess(pelvis[2], 20.0)
        shoulders = np.linalg.norm(frame.positions[near, 5] - frame.positions[near, 6])
        self.assertTrue(0.15 < shoulders < 0.7, f"shoulder width {shoulders:.2f} m is not human")
        self.assertTrue(set(np.unique(frame.status)) <= {0, 1, 2, 3, 4})

    def test_lifter_publishes_skeletons(self):
        self._check(self._first_people("/skeletons3d"))

    def test_temporal_stage_publishes_refined_skeletons(self):
        msg = self._first_people("/skeletons3d_refined")
        self._check(msg)
        self.assertTrue(set(np.unique(skeleton3d_to_numpy(msg).status)) & {3, 4}, "no REFINED or FILLED joint")

    def test_outputs_carry_the_stamps_of_the_images(self):
        from sensor_msgs.msg import Image

        from pose3d_ros_msgs.msg import Skeleton3DArray, WholeBody2DArray

        received = self._collect({"/camera/image_raw": Image, "/keypoints2d": WholeBody2DArray,
                                  "/skeletons3d": Skeleton3DArray, "/skeletons3d_refined": Skeleton3DArray}, 3.0)
        images = {(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/camera/image_raw"]}
        for topic in ("/keypoints2d", "/skeletons3d"):
            # the first messages may answer images published before the image subscription was matched
            stamps = [stamp(msg) for msg in received[topic] if stamp(msg) >= min(images)]
            self.assertGreaterEqual(len(stamps), 5, f"{topic}: too few messages to compare")
            unmatched = [key for key in stamps if key not in images]
            self.assertFalse(unmatched, f"{topic}: stamps that are no image's stamp")
        lifted = {(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/skeletons3d"]}
        refined = [(msg.header.stamp.sec, msg.header.stamp.nanosec) for msg in received["/skeletons3d_refined"]]
        self.assertTrue(set(refined) & lifted, "refined skeletons are not stamped with their input stamps")

    # ------------------------------------------------------------------ several people

    _several_received = None

    def _several(self):
        """Every topic several-people tests look at, collected once for SEVERAL_S seconds (arrival order)."""
        if TestSkeletonsArrive._several_received is None:
            from hri_msgs.msg import IdsList
            from tf2_msgs.msg import TFMessage
            from visualization_msgs.msg import MarkerArray

            from pose3d_ros_msgs.msg import Skeleton3DArray, WholeBody2DArray

            TestSkeletonsArrive._several_received = self._collect(
                {"/keypoints2d": WholeBody2DArray, "/skeletons3d": Skeleton3DArray,
                 "/skeletons3d_refined": Skeleton3DArray, "/lifter_node/markers": MarkerArray,
                 "/temporal_node/markers": MarkerArray, "/humans/bodies/tracked": IdsList, "/tf": TFMessage},
                SEVERAL_S)
        return TestSkeletonsArrive._several_received

    def _assert_several_distinct(self, topic, ids_per_message):
        for ids in ids_per_message:
            self.assertEqual(len(ids), len(set(ids)), f"{topic}: one id for two people in one message: {ids}")
        most = max(len(ids) for ids in ids_per_message)
        self.assertGreaterEqual(most, 2, f"{topic}: never more than {most} person in one message (the video shows "
                                         f"several)")

    def test_keypoints_and_skeletons_carry_several_people_with_distinct_ids(self):
        received = self._several()
        for topic in ("/keypoints2d", "/skeletons3d", "/skeletons3d_refined"):
            self._assert_several_distinct(topic, [[person.person_id for person in people(msg)]
                                                  for msg in received[topic]])
        for topic in ("/skeletons3d", "/skeletons3d_refined"):
            for msg in received[topic]:
                frame = skeleton3d_to_numpy(msg)
                # a person the temporal stage fills in entirely stays where they were last seen, where another id
                # may stand now (the 2D tracker gives someone a new id when the looped video makes them jump back)
                seen = ~(frame.status == JointStatus.FILLED).all(axis=1)
                pelvis = frame.positions[seen][:, HIPS].mean(axis=1)
                apart = np.linalg.norm(pelvis[:, None] - pelvis[None], axis=-1) + np.eye(len(pelvis))
                self.assertTrue((apart > 0.05).all(), f"{topic}: two people at the same place: "
                                                      f"{frame.person_ids[seen].tolist()} {pelvis.round(2).tolist()}")

    def test_each_3d_person_is_the_2d_person_of_the_same_id(self):
        """The lifter keeps the 2D stage's ids (same stamp, same ids) and each 3D pelvis projects onto the 2D hips
        of the person with its id; the temporal stage keeps every person the lifter had at a stamp.
        """
        from sensor_msgs.msg import CameraInfo

        received = self._several()
        info = self._collect({"/camera/camera_info": CameraInfo}, 0.0)["/camera/camera_info"][-1]
        K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        keypoints = {stamp(msg): wholebody2d_to_numpy(msg) for msg in received["/keypoints2d"]}
        lifted = {stamp(msg): skeleton3d_to_numpy(msg) for msg in received["/skeletons3d"]}
        compared = 0
        for key, frame in lifted.items():
            if key not in keypoints:
                continue
            flat = keypoints[key]
            self.assertEqual(frame.person_ids.tolist(), flat.person_ids.tolist(), "the lifter changed the ids")
            for p, person_id in enumerate(frame.person_ids):
                if (flat.conf[p, HIPS] < 0.3).any():
                    continue
                projected = K @ frame.positions[p, HIPS].mean(axis=0)
                hips = flat.kp2d[p, HIPS].mean(axis=0)
                offset = np.linalg.norm(projected[:2] / projected[2] - hips)
                self.assertLess(offset, 0.05 * info.width, f"person {person_id}: 3D pelvis projects {offset:.0f} "
                                                           f"px away from the 2D hips of that id")
                compared += 1
        self.assertGreaterEqual(compared, 10, "too few people seen by both the 2D and the 3D stage at one stamp")
        for msg in received["/skeletons3d_refined"]:
            if stamp(msg) in lifted:
                refined = {person.person_id for person in msg.skeletons}
                missing = set(lifted[stamp(msg)].person_ids.tolist()) - refined
                self.assertFalse(missing, f"the temporal stage lost people {sorted(missing)} at one stamp")

    def test_the_most_confident_person_keeps_their_id(self):
        """From one keypoints message to the next, the most confident person (mean body confidence) is found again
        where they were (they walk a few pixels per frame) under the same id.
        """
        frames = [wholebody2d_to_numpy(msg) for msg in self._several()["/keypoints2d"]]
        followed = []
        for before, after in zip(frames[:-1], frames[1:], strict=True):
            if not len(before.person_ids) or not len(after.person_ids):
                continue
            p = int(np.argmax(before.conf[:, BODY].mean(axis=1)))
            q = same_person(before, after, p, max_distance=0.05 * before.image_size[0])
            if q is None:
                continue
            self.assertEqual(after.person_ids[q], before.person_ids[p],
                             f"person {before.person_ids[p]} is person {after.person_ids[q]} in the next message")
            followed.append(int(before.person_ids[p]))
        self.assertGreaterEqual(len(followed), 5, "the most confident person was followed over too few messages")

    def test_markers_carry_one_namespace_per_person(self):
        received = self._several()
        for node, topic in (("lifter_node", "/skeletons3d"), ("temporal_node", "/skeletons3d_refined")):
            skeletons = {stamp(msg): [person.person_id for person in msg.skeletons] for msg in received[topic]}
            most = 0
            for msg in received[f"/{node}/markers"]:
                if not msg.markers:
                    continue
                added = [(marker.ns, marker.id, marker.type) for marker in msg.markers if marker.action == ADD]
                self.assertEqual(len(added), len({(ns, marker_id) for ns, marker_id, _ in added}),
                                 f"{node}: one marker (ns, id) twice in one MarkerArray")
                namespaces = {ns for ns, _, _ in added}
                for ns in namespaces:
                    self.assertEqual({(marker_id, kind) for name, marker_id, kind in added if name == ns},
                                     {(BONES_ID, LINE_LIST), (JOINTS_ID, SPHERE_LIST), (LABEL_ID, TEXT_VIEW_FACING)},
                                     f"{node}: markers of {ns}")
                deleted = {marker.ns for marker in msg.markers if marker.action == DELETEALL}
                self.assertFalse(deleted & namespaces, f"{node}: a person deleted and drawn in one MarkerArray")
                if stamp(msg) in skeletons:
                    self.assertEqual(namespaces, {f"person_{i}" for i in skeletons[stamp(msg)]},
                                     f"{node}: marker namespaces are not the skeletons' ids")
                most = max(most, len(namespaces))
            self.assertGreaterEqual(most, 2, f"{node}: never the markers of several people in one MarkerArray")

    def test_rep155_lists_several_bodies_with_a_tf_frame_each_from_the_last_stage_only(self):
        received = self._several()
        self.assertEqual(self.node.count_publishers("/humans/bodies/tracked"), 1)
        tracked = {stamp(msg): list(msg.ids) for msg in received["/humans/bodies/tracked"]}
        self._assert_several_distinct("/humans/bodies/tracked", list(tracked.values()))
        refined = {stamp(msg): [f"b{person.person_id}" for person in msg.skeletons]
                   for msg in received["/skeletons3d_refined"]}
        for key, ids in tracked.items():
            if key in refined:
                self.assertEqual(ids, refined[key], "tracked body ids are not the refined skeletons' ids")
        frames = {}
        for msg in received["/tf"]:
            for transform in msg.transforms:
                self.assertEqual(transform.header.frame_id, "camera_optical_frame")
                frames.setdefault(stamp(transform), set()).add(transform.child_frame_id)
        with_frames = [key for key in tracked if key in frames]
        self.assertTrue(with_frames, "no TF frame at the stamp of a tracked list")
        for key in with_frames:
            self.assertEqual(frames[key], {f"body_{body}" for body in tracked[key]},
                             "one TF frame body_<id> per tracked body")

    def test_the_last_stage_also_publishes_its_skeletons_in_the_output_frame(self):
        """output_frame:=camera_link: the refined skeletons again, in the camera body frame that video_source_node
        publishes (REP-103: x forward, y left, z up, the optical frame's origin): (x, y, z) optical -> (z, -x, -y).
        """
        from pose3d_ros_msgs.msg import Skeleton3DArray

        received = self._collect({"/skeletons3d_refined": Skeleton3DArray,
                                  "/skeletons3d_refined/transformed": Skeleton3DArray}, 2.0)
        self.assertEqual(self.node.count_publishers("/skeletons3d/transformed"), 0, "the lifter is not the last stage")
        refined = {stamp(msg): skeleton3d_to_numpy(msg) for msg in received["/skeletons3d_refined"]}
        compared = 0
        for msg in received["/skeletons3d_refined/transformed"]:
            self.assertEqual(msg.header.frame_id, "camera_link")
            if stamp(msg) not in refined or not msg.skeletons:
                continue
            moved, original = skeleton3d_to_numpy(msg), refined[stamp(msg)]
            self.assertEqual(moved.person_ids.tolist(), original.person_ids.tolist())
            x, y, z = np.moveaxis(original.positions, -1, 0)
            np.testing.assert_allclose(moved.positions, np.stack([z, -x, -y], axis=-1), atol=1e-4)
            np.testing.assert_array_equal(moved.status, original.status)
            compared += 1
        self.assertGreaterEqual(compared, 3, "too few transformed skeletons with people at a refined stamp")
