"""temporal_node: Skeleton3DArray -> refined Skeleton3DArray (per-joint REFINED / FILLED status), + markers.

Runs the streaming 3D-UGCN refiner: each person's recent frames form a window, occluded joints and short gaps
are filled, and refined poses come out ``lookahead`` frames late, stamped with their own input stamp.
"""

from __future__ import annotations

from typing import Any

from pose3d_ros.messages import make_header, skeleton3d_to_numpy, stamp_ns
from pose3d_ros.node_logic.temporal_frames import TemporalFrames
from pose3d_ros.ros.base import PipelineNode, SkeletonOutput, run


class TemporalNode(PipelineNode):
    def __init__(self) -> None:
        super().__init__("temporal_node")
        self.frames: TemporalFrames | None = None
        self.output: SkeletonOutput | None = None

    def configure(self) -> None:
        import torch

        from pose3d_ros.temporal import StreamingRefiner

        torch.set_num_threads(self.param("cpu_threads"))
        refiner = StreamingRefiner.load(self.param("weights") or None, window=self.param("window") or None,
                                        lookahead=self.param("lookahead"), max_gap=self.param("max_gap"),
                                        device=self.param("device"))  # a CUDA fallback warns through the core's log
        self.layout = refiner.layout
        self.frames = TemporalFrames(refiner, self.layout.num_joints)
        self.output = SkeletonOutput(self, "skeletons3d_refined", self.layout)
        self.get_logger().info(f"temporal refiner ({self.layout.name}) on {refiner.device}")

    def subscribe(self) -> list:
        return [self.create_subscription(self.types.Skeleton3DArray, "skeletons3d", self.enqueue, self.input_qos(),
                                         event_callbacks=self.qos_events("skeletons3d"))]

    def process(self, msg: Any) -> bool:
        frame = skeleton3d_to_numpy(msg, layout=self.layout.name)
        refined = self.frames.push(stamp_ns(msg.header), msg.header.frame_id, frame.person_ids, frame.positions,
                                   frame.confidence, frame.error, frame.status)
        self.monitor.record_events(self.frames.events)  # clock jumps, duplicate stamps, people given up
        self._publish(refined)
        return bool(refined)

    def _publish(self, refined: list) -> None:
        for out in refined:
            self.output.publish(make_header(self.types, out.stamp_ns, out.frame_id), out.person_ids, out.positions,
                                out.confidence, out.error, out.status)

    def stopped(self) -> None:
        """Publish what the refiner still holds, then remove the markers."""
        self._publish(self.frames.flush())
        self.output.clear()

    def release(self) -> None:
        self.frames = None
        if self.output is not None:
            self.output.destroy()
            self.output = None


def main() -> None:
    run(TemporalNode)
