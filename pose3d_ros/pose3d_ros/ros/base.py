"""What every pose3d_ros node shares: lifecycle, parameters, QoS, diagnostics and the processing thread.

Nodes are lifecycle nodes: models load on configure (slow, may fail cleanly), subscriptions exist only while
active, publishers are lifecycle publishers. Subscription callbacks only put the newest message into a
:class:`LatestSlot`; one worker thread processes it, so the executor stays free for lifecycle services and
diagnostics, latency never builds up in a queue, and every skipped frame is counted.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_updater import Updater
from geometry_msgs.msg import Point, Pose, Quaternion, TransformStamped, Vector3
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_policy_name_from_kind
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from std_msgs.msg import ColorRGBA, Header
from tf2_ros import Buffer, TransformBroadcaster, TransformException, TransformListener
from visualization_msgs.msg import Marker, MarkerArray

from pose3d_ros.markers import MarkerStyle, SkeletonMarkers
from pose3d_ros.messages import MessageTypes, skeleton3d_array
from pose3d_ros.node_logic.core_logs import forward_core_logs
from pose3d_ros.node_logic.diagnostics import StageMonitor, StageReport
from pose3d_ros.node_logic.output_frame import TRANSFORMED_SUFFIX, OutputFrame
from pose3d_ros.node_logic.parameters import PARAMETERS, check_parameter, parameter_update_error
from pose3d_ros.node_logic.processing import LatestSlot, StageLoop, clean_up_steps
from pose3d_ros.node_logic.qos import OUTPUT_QOS_SETTINGS, qos_mismatch_hint, qos_settings
from pose3d_ros.node_logic.rep155 import body_frame, hri_body_id
from pose3d_ros.pipeline.stopping import StopRequest
from pose3d_ros.skeleton import Layout

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

_LEVELS = {0: DiagnosticStatus.OK, 1: DiagnosticStatus.WARN, 2: DiagnosticStatus.ERROR, 3: DiagnosticStatus.STALE}
# Outputs: node_logic.OUTPUT_QOS_SETTINGS (reliable, keep-last 1).
OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=OUTPUT_QOS_SETTINGS.depth,
                        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def rclpy_message_types() -> MessageTypes:
    """The classes rclpy generated, with array.array for numeric sequences (what their setters take in one copy)."""
    from builtin_interfaces import msg as builtin

    from pose3d_ros_msgs.msg import (
        SafetyState,
        SafetyStateArray,
        Skeleton3D,
        Skeleton3DArray,
        WholeBody2D,
        WholeBody2DArray,
    )

    return MessageTypes(WholeBody2D=WholeBody2D, WholeBody2DArray=WholeBody2DArray, Skeleton3D=Skeleton3D,
                        Skeleton3DArray=Skeleton3DArray, SafetyState=SafetyState, SafetyStateArray=SafetyStateArray,
                        Header=Header, Time=builtin.Time, Duration=builtin.Duration, Marker=Marker,
                        MarkerArray=MarkerArray, Point=Point, Pose=Pose, Quaternion=Quaternion, Vector3=Vector3,
                        ColorRGBA=ColorRGBA, sequences="array")


def fill_status(stat: Any, report: StageReport) -> Any:
    """A diagnostic_updater status from a node_logic.StageReport."""
    stat.summary(_LEVELS[report.level], report.message)
    for key, value in report.values.items():
        stat.add(key, value)
    return stat


class PipelineNode(LifecycleNode):
    """Lifecycle skeleton of a stage; subclasses fill in configure/activate/process/release."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind  # the key of PARAMETERS, whatever name the node was given
        forward_core_logs(self.get_logger())
        for spec in PARAMETERS[kind]:
            self.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description, dynamic_typing=spec.dynamic_typing))
        # after the declarations: a bad value given at start-up fails configure with its reason, not the process
        self.add_on_set_parameters_callback(self._refuse_bad_parameters)
        self.types = rclpy_message_types()
        self.monitor: StageMonitor | None = None
        self.slot = LatestSlot()
        self.loop: StageLoop | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._finalized = False
        self._inputs: list[Any] = []
        self._tf_buffer: Any = None
        self._tf_listener: Any = None
        self.updater = Updater(self)
        self.updater.setHardwareID(kind)
        self.updater.add(f"{kind} stage", self._diagnose)

    # ------------------------------------------------------------------ parameters, QoS, diagnostics

    def param(self, name: str) -> Any:
        return check_parameter(self.kind, name, self.get_parameter(name).value)

    def _refuse_bad_parameters(self, parameters: list) -> SetParametersResult:
        for parameter in parameters:
            reason = parameter_update_error(self.kind, parameter.name, parameter.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def input_qos(self) -> QoSProfile:
        settings = qos_settings(self.param("qos.reliability"), self.param("qos.depth"))
        reliability = (ReliabilityPolicy.RELIABLE if settings.reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.depth, reliability=reliability,
                          durability=DurabilityPolicy.VOLATILE)

    def qos_events(self, topic: str) -> SubscriptionEventCallbacks:
        """Event callbacks that say clearly why a publisher on ``topic`` is not heard."""
        def incompatible(event: Any) -> None:
            policy = qos_policy_name_from_kind(event.last_policy_kind)
            hint = qos_mismatch_hint(str(policy), self.param("qos.reliability"))
            self.get_logger().error(
                f"a publisher on '{self.resolve_topic_name(topic)}' offers QoS incompatible with this subscription "
                f"({event.total_count} so far, policy {policy}): {hint}")
        return SubscriptionEventCallbacks(incompatible_qos=incompatible)

    def _diagnose(self, stat: Any) -> Any:
        if self.monitor is None:
            stat.summary(DiagnosticStatus.OK, "unconfigured")
            return stat
        stat = fill_status(stat, self.monitor.report(active=self._running))
        output = getattr(self, "output", None)
        if isinstance(output, SkeletonOutput) and output.output_frame is not None:
            stat.add("output_frame transforms published", str(output.output_frame.published))
            stat.add("output_frame transforms failed", str(output.output_frame.failures))
        return stat

    def transforms(self) -> Any:
        """The node's TF buffer (with its listener), made on first use: lifter_node's gravity_frame and the
        output_frame of lifter_node and temporal_node look up their transforms in it.
        """
        if self._tf_buffer is None:
            self._tf_buffer = Buffer()
            self._tf_listener = TransformListener(self._tf_buffer, self)
        return self._tf_buffer

    def release_transforms(self) -> None:
        if self._tf_listener is not None:
            self._tf_listener.unregister()
        self._tf_buffer = self._tf_listener = None

    def marker_builder(self, layout: Layout) -> SkeletonMarkers | None:
        if not self.param("markers.enabled"):
            return None
        style = MarkerStyle(bone_width=self.param("markers.bone_width"),
                            joint_diameter=self.param("markers.joint_diameter"),
                            lifetime_s=self.param("markers.lifetime_s"), min_alpha=self.param("markers.min_alpha"))
        return SkeletonMarkers(self.types, layout, style)

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            if self.kind != "video_source_node":
                self.monitor = StageMonitor(window_s=self.param("diagnostics.window_s"),
                                            max_latency_s=self.param("diagnostics.max_latency_s"),
                                            max_drop_ratio=self.param("diagnostics.max_drop_ratio"),
                                            stale_s=self.param("diagnostics.stale_s"))
                self.loop = StageLoop(self.process, self.monitor, self.get_logger().error, self.slot,
                                      alive=lambda: self.context.ok())
            self.configure()
        except Exception as err:  # noqa: BLE001 - a model that fails to load leaves the node unconfigured, alive
            self.get_logger().error(f"configuration failed: {type(err).__name__}: {err}")
            self.release()
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        self.slot.reopen()
        self._running = True
        if self.loop is not None:  # the stages process on a worker; video_source_node publishes from its timer
            self._worker = threading.Thread(target=self._work, name=f"{self.kind}_worker", daemon=True)
            self._worker.start()
        try:
            self._inputs = self.subscribe()
        except (ValueError, RuntimeError) as err:
            self.get_logger().error(f"activation failed: {err}")
            self._stop()
            return TransitionCallbackReturn.FAILURE
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self.stopped()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().info(f"lifecycle shutdown from {state.label}")  # how a stopped node says it ended well
        if self._running:
            self._stop()
            self.stopped()
        self.release()
        self._finalized = True
        return super().on_shutdown(state)

    def _stop(self) -> None:
        for subscription in self._inputs:
            self.destroy_subscription(getattr(subscription, "sub", subscription))  # message_filters wraps one
        self._inputs = []
        self.stop_worker()

    def stop_worker(self) -> None:
        """Let the processing thread finish its frame and end (also at process exit, before destroy_node)."""
        self._running = False
        self.slot.close()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    # ------------------------------------------------------------------ processing thread

    def enqueue(self, *messages: Any) -> None:
        """Subscription side: hand the newest input to the worker (never blocks; a replaced frame is a drop)."""
        self.loop.submit(*messages)

    def _work(self) -> None:
        """Process the newest input until deactivation; failing frames are skipped, counted, logged once per kind.
        video_source_node has no StageLoop (its timer does its work): its worker has nothing to do.
        """
        while self._running:
            self.loop.step(timeout=0.2)

    # ------------------------------------------------------------------ for subclasses

    def configure(self) -> None:
        """Load models and create publishers (lifecycle publishers)."""

    def subscribe(self) -> list:
        """Create and return the subscriptions (on activate)."""
        return []

    def process(self, *messages: Any) -> bool:
        """Handle one input in the worker thread; True when something was published."""
        return False

    def stopped(self) -> None:
        """After deactivation (flush buffers, clear markers)."""

    def release(self) -> None:
        """Free models and publishers (cleanup, or a failed configure)."""

    def destroy_publishers(self, *names: str) -> None:
        """Destroy the lifecycle publishers held in these attributes (if created) and forget them."""
        for name in names:
            publisher = getattr(self, name, None)
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
            setattr(self, name, None)


class HriOutput:
    """REP-155 output: tracked body ids and a ``body_<id>`` TF frame at each pelvis."""

    def __init__(self, node: PipelineNode, layout: Layout):
        try:
            from hri_msgs.msg import IdsList
        except ImportError as err:
            raise ImportError("hri.enabled needs the hri_msgs package (apt install ros-$ROS_DISTRO-hri-msgs)") from err
        self._ids_list = IdsList
        self.layout = layout
        self.publisher = node.create_lifecycle_publisher(IdsList, node.param("hri.tracked_topic"), OUTPUT_QOS)
        self.broadcaster = TransformBroadcaster(node)

    def publish(self, header: Any, person_ids: Any, positions: Any) -> None:
        ids = [int(i) for i in person_ids]
        self.publisher.publish(self._ids_list(header=header, ids=[hri_body_id(i) for i in ids]))
        transforms = []
        for person_id, pose in zip(ids, positions, strict=True):
            frame = body_frame(pose, self.layout)
            if frame is None:
                continue
            origin, quaternion = frame
            transform = TransformStamped()
            transform.header = header
            transform.child_frame_id = f"body_{hri_body_id(person_id)}"
            transform.transform.translation = Vector3(x=float(origin[0]), y=float(origin[1]), z=float(origin[2]))
            transform.transform.rotation = Quaternion(x=float(quaternion[0]), y=float(quaternion[1]),
                                                      z=float(quaternion[2]), w=float(quaternion[3]))
            transforms.append(transform)
        if transforms:
            self.broadcaster.sendTransform(transforms)

    def destroy(self, node: PipelineNode) -> None:
        node.destroy_lifecycle_publisher(self.publisher)
        node.destroy_publisher(self.broadcaster.pub_tf)


class SkeletonOutput:
    """What lifter_node and temporal_node publish per frame: the Skeleton3DArray, the RViz markers
    (``markers.*``) and the REP-155 output (``hri.*``; the launch files enable it on the last stage only).
    """

    def __init__(self, node: PipelineNode, topic: str, layout: Layout):
        self.node = node
        self.layout = layout
        self.skeletons = node.create_lifecycle_publisher(node.types.Skeleton3DArray, topic, OUTPUT_QOS)
        self.markers = node.marker_builder(layout)
        self.markers_pub = (node.create_lifecycle_publisher(node.types.MarkerArray, "~/markers", OUTPUT_QOS)
                            if self.markers else None)
        self.hri = HriOutput(node, layout) if node.param("hri.enabled") else None
        self.output_frame = OutputFrame(node.param("output_frame")) if node.param("output_frame") else None
        self.transformed = (node.create_lifecycle_publisher(node.types.Skeleton3DArray, topic + TRANSFORMED_SUFFIX,
                                                            OUTPUT_QOS) if self.output_frame else None)
        if self.output_frame:
            node.transforms()  # listening from now, so that the first frames find their transform
        self._last_header: Any = None

    def publish(self, header: Any, person_ids: Any, positions: Any, confidence: Any, error: Any,
                status: Any, placement: Any = None) -> None:
        self.skeletons.publish(skeleton3d_array(self.node.types, header, positions, confidence, error, status,
                                                person_ids, self.layout, placement))
        if self.markers is not None:
            self.markers_pub.publish(self.markers.update(header, positions, confidence, status, person_ids))
        if self.hri is not None:
            self.hri.publish(header, person_ids, positions)
        if self.output_frame is not None:
            self._publish_transformed(header, person_ids, positions, confidence, error, status, placement)
        self._last_header = header

    def _publish_transformed(self, header: Any, person_ids: Any, positions: Any, confidence: Any, error: Any,
                             status: Any, placement: Any) -> None:
        """The same skeletons in output_frame, with the transform at the image's stamp; none when TF has none."""
        try:
            transform = self.node.transforms().lookup_transform(self.output_frame.frame, header.frame_id,
                                                                Time.from_msg(header.stamp)).transform
            moved = self.output_frame.transformed(
                positions, (transform.rotation.x, transform.rotation.y, transform.rotation.z, transform.rotation.w),
                (transform.translation.x, transform.translation.y, transform.translation.z))
        except TransformException as err:
            moved = self.output_frame.transformed(positions, failure=str(err))
        if self.output_frame.warning:
            self.node.get_logger().warning(self.output_frame.warning)
        if moved is not None:
            moved_header = Header(stamp=header.stamp, frame_id=self.output_frame.frame)
            self.transformed.publish(skeleton3d_array(self.node.types, moved_header, moved, confidence, error,
                                                      status, person_ids, self.layout, placement))

    def clear(self) -> None:
        """Remove this node's skeletons from RViz now (on deactivation) rather than after their lifetime."""
        if self.markers is not None and self._last_header is not None:
            self.markers_pub.publish(self.markers.clear(self._last_header))

    def destroy(self) -> None:
        self.node.destroy_lifecycle_publisher(self.skeletons)
        if self.transformed is not None:
            self.node.destroy_lifecycle_publisher(self.transformed)
        self.node.release_transforms()
        if self.markers_pub is not None:
            self.node.destroy_lifecycle_publisher(self.markers_pub)
        if self.hri is not None:
            self.hri.destroy(self.node)


def run(node_class: type) -> None:
    """Console-script entry: spin the node (with autostart, configure and activate it first) until SIGINT or SIGTERM,
    then end it cleanly and exit with 0 (1 when a clean-up step failed).

    Exit 0 after a requested stop is the ROS convention (rclcpp and rclpy nodes do the same): ``ros2 launch`` then
    logs "process has finished cleanly" at Ctrl-C instead of an ERROR line, and systemd does not mark a stopped
    unit failed.

    rclpy's own signal handlers would shut the context down at the signal, before the node could clean up: the
    lifecycle shutdown transition would never run (no stopped(): markers stay, temporal_node's held frames are
    lost) and the process would exit 0. So ROS gets no signal handlers; pipeline.stopping.StopRequest records the
    first signal (a second one ends the process at once), the spin loop ends, and node_logic.clean_up_steps runs
    while the context is alive (test/test_signals_launch.py runs every node through both signals).
    """
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    stop = StopRequest()
    node = node_class()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    failed_steps: list[str] = []
    with stop.on_signals():
        try:
            if node.get_parameter("autostart").value:
                if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                    node.trigger_activate()
            while rclpy.ok() and not stop:
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            for step in clean_up_steps(node._finalized, rclpy.ok()):
                try:
                    getattr(node, step)()
                except Exception as err:  # noqa: BLE001 - the next steps must still run
                    failed_steps.append(step)
                    print(f"{node.get_name()}: {step} failed while ending: {err}", file=sys.stderr)
            executor.shutdown()
            rclpy.try_shutdown()
    # Everything is released: the interpreter's own teardown (torch's, LiteRT's) is skipped. It took 1.3-3 s on a
    # busy machine, and launch sends SIGTERM 5 s after its SIGINT, which ended such nodes at once with -15.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed_steps else 0)
