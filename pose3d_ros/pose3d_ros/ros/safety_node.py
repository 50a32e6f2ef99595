"""safety_node: skeletons + TF -> one safety state per monitored object (pose3d_ros_msgs/SafetyStateArray), the
monitored joints as a geometry_msgs/PoseArray, RViz markers, and the end-to-end age on /diagnostics.

A monitoring aid, not a certified safety function (docs/safety.md). Every decision is in ``pose3d_ros.safety``;
this node converts messages, looks up each object's frame in TF at the skeletons' stamp (a failed lookup gives
None: the monitor makes that object unknown), reads the 2D stage's dropped frames from /diagnostics, and calls
the monitor: per skeleton message on the worker thread, and from a timer that publishes the monitor's check
whenever nothing was published for ``check_period_s``, so that silence turns into ``unknown``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion, TransformStamped, Vector3
from rclpy.duration import Duration
from rclpy.time import Time

from pose3d_ros.messages import make_header, safety_state_array, skeleton3d_to_frame
from pose3d_ros.node_logic.diagnostics import USE_FQN_PARAMETER, watched_drops_status
from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.ros.base import OUTPUT_QOS, PipelineNode, fill_status, run
from pose3d_ros.safety import Pose as SafetyPose
from pose3d_ros.safety import SafetyConfig, SafetyMonitor, SafetyReport, UnknownCause
from pose3d_ros.safety.diagnostics import SafetyDiagnostics
from pose3d_ros.safety.heartbeat import Heartbeat
from pose3d_ros.safety.markers import SafetyMarkerStyle, object_outlines, safety_markers
from pose3d_ros.safety.points import monitored_points
from pose3d_ros.safety.upstream import StageDrops


class SafetyNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("safety_node")
        self.config: SafetyConfig | None = None
        self.health: SafetyDiagnostics | None = None
        self.timer = None
        self.updater.add("safety monitor", self._diagnose_safety)

    def configure(self) -> None:
        from tf2_ros import Buffer, StaticTransformBroadcaster, TransformListener

        path = self.param("config")
        if not path:
            raise ValueError("parameter config is empty: give a safety YAML (docs/safety.md)")
        self.config = SafetyConfig.load(path)
        self.safety = SafetyMonitor(self.config)
        self.heartbeat = Heartbeat(self.param("check_period_s"))
        self.health = SafetyDiagnostics(self.param("diagnostics.window_s"))
        status = watched_drops_status(self.param("dropped_frames_status"), self.get_namespace(),
                                      self.get_parameter(USE_FQN_PARAMETER).value)
        self.drops = StageDrops(status) if status else None
        self.lock = threading.Lock()  # the worker's updates and the timer's checks take turns on the monitor
        self.tf_buffer = Buffer()
        self.tf_listener = TransformListener(self.tf_buffer, self)
        self.static_broadcaster = None
        if self.param("publish_config_transforms"):
            self.static_broadcaster = StaticTransformBroadcaster(self)
            self.static_broadcaster.sendTransform([self._transform(t) for t in self.config.transforms])
        self.states_pub = self.create_lifecycle_publisher(self.types.SafetyStateArray, "safety/states", OUTPUT_QOS)
        self.joints_pub = self.create_lifecycle_publisher(PoseArray, "safety/monitored_joints", OUTPUT_QOS)
        self.markers_pub = (self.create_lifecycle_publisher(self.types.MarkerArray, "~/markers", OUTPUT_QOS)
                            if self.param("markers.enabled") else None)
        self.marker_style = SafetyMarkerStyle(line_width=self.param("markers.line_width"),
                                              lifetime_s=self.param("markers.lifetime_s"))
        self.outlines: list | None = None  # of the newest skeletons' frame, redrawn with the timer's checks
        watched = f"the 2D stage's drops from the diagnostics status '{status}'" if status else "no 2D stage's drops"
        self.get_logger().info(f"monitoring {len(self.config.objects)} objects of {path} in frames "
                               f"{', '.join(self.config.frames)}; {watched}")

    def _transform(self, static: Any) -> TransformStamped:
        transform = TransformStamped()
        transform.header.stamp = self.get_clock().now().to_msg()
        transform.header.frame_id, transform.child_frame_id = static.parent, static.child
        x, y, z = (float(v) for v in static.pose.translation)
        qx, qy, qz, qw = (float(v) for v in static.pose.rotation.as_quat())
        transform.transform.translation = Vector3(x=x, y=y, z=z)
        transform.transform.rotation = Quaternion(x=qx, y=qy, z=qz, w=qw)
        return transform

    def subscribe(self) -> list:
        subscriptions = [self.create_subscription(self.types.Skeleton3DArray, "skeletons3d_refined", self.enqueue,
                                                  self.input_qos(), event_callbacks=self.qos_events(
                                                      "skeletons3d_refined"))]
        if self.drops is not None:
            subscriptions.append(self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10))
        self.timer = self.create_timer(self.param("check_period_s"), self._check)
        return subscriptions

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.drops.read(status.name, {value.key: value.value for value in status.values})

    def _lookup(self, target: str, source: str, stamp_ns: int, wait_s: float) -> SafetyPose | None:
        """The pose of ``source`` in ``target`` at the stamp, waiting up to ``wait_s`` for TF; None (logged) when
        TF cannot give it.
        """
        from tf2_ros import TransformException

        try:
            transform = self.tf_buffer.lookup_transform(target, source, Time(nanoseconds=stamp_ns),
                                                        Duration(seconds=max(wait_s, 0.0))).transform
        except TransformException as err:
            self.get_logger().warning(f"no transform {target} <- {source}: {err}", throttle_duration_sec=5.0)
            return None
        t, q = transform.translation, transform.rotation
        return SafetyPose.from_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def process(self, msg: Any) -> bool:
        skeletons = skeleton3d_to_frame(msg)
        # One wait of tf_timeout_s per message, shared by its lookups: missing frames must not add up to a lag.
        deadline = time.monotonic() + self.param("tf_timeout_s")
        poses = {frame: self._lookup(skeletons.frame_id, frame, skeletons.stamp_ns, deadline - time.monotonic())
                 for frame in self.config.frames}
        with self.lock:
            dropped = self.drops.take() if self.drops is not None else 0
            report = self.safety.update(skeletons, self._now_ns(), poses, dropped_frames=dropped)
            self.outlines = object_outlines(self.config, poses)
            self._publish(report, for_input=True)
        self._publish_joints(skeletons)
        return True

    def _check(self) -> None:
        with self.lock:
            now = self._now_ns()
            if self.heartbeat.due(now):
                self._publish(self.safety.check(now), for_input=False)

    def _publish(self, report: SafetyReport, for_input: bool) -> None:
        header = make_header(self.types, report.stamp_ns, report.frame_id)
        self.states_pub.publish(safety_state_array(self.types, header, report))
        self.heartbeat.published(report.stamp_ns)
        self.health.record(report, report.stamp_ns, for_input)
        if self.markers_pub is not None and self.outlines is not None:
            drawn = make_header(self.types, report.image_stamp_ns, report.frame_id)  # where the points were
            self.markers_pub.publish(safety_markers(self.types, drawn, report, self.outlines, self.marker_style))

    def _publish_joints(self, skeletons: SkeletonFrame) -> None:
        target = self.param("joints_frame") or skeletons.frame_id
        to_target = (SafetyPose.identity() if target == skeletons.frame_id
                     else self._lookup(target, skeletons.frame_id, skeletons.stamp_ns, self.param("tf_timeout_s")))
        if to_target is None:
            return
        points = monitored_points(skeletons, self.config.joints, to_target)
        identity = Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)
        self.joints_pub.publish(PoseArray(
            header=make_header(self.types, skeletons.stamp_ns, target),
            poses=[Pose(position=Point(x=x, y=y, z=z), orientation=identity) for x, y, z in points.tolist()]))

    def _diagnose_safety(self, stat: Any) -> Any:
        if self.health is None:
            stat.summary(DiagnosticStatus.OK, "unconfigured")
            return stat
        return fill_status(stat, self.health.report(self._now_ns()))

    def stopped(self) -> None:
        """Stop the timer and say so: every object unknown, since nothing is monitored any more."""
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        with self.lock:
            last = self.safety.check(self._now_ns())
            self._publish(SafetyReport.unknown(last.names, last.stamp_ns, UnknownCause.NO_SKELETONS, last.frame_id,
                                               last.image_stamp_ns), for_input=False)

    def release(self) -> None:
        if getattr(self, "tf_listener", None) is not None:
            self.tf_listener.unregister()
            self.tf_listener = None
        if getattr(self, "static_broadcaster", None) is not None:
            self.destroy_publisher(self.static_broadcaster.pub_tf)
            self.static_broadcaster = None
        self.destroy_publishers("states_pub", "joints_pub", "markers_pub")
        self.config = None
        self.health = None


def main() -> None:
    run(SafetyNode)
