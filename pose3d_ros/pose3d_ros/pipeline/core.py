"""The three stages composed in one process, with the ROS graph's parameters and step semantics.

The ROS graph runs the stages in three nodes (keypoints2d -> lifter -> temporal); ``pose3d run`` runs them here.
Both take the same parameters (the ``keypoints2d_node``, ``lifter_node`` and ``temporal_node`` sections of
config/pipeline.yaml, defaults from :data:`pose3d_ros.node_logic.PARAMETERS`) and call the same steps:

* 2D: ``create_detector(backend, ...)(image, timestamp_s=stamp)`` -> Keypoints2D;
* lift: :func:`lift_keypoints` -- undistort the keypoints with the CameraInfo's distortion (``undistort``), lift
  them, place them in the camera frame (from the aligned depth image where there is one, checked by
  :class:`~pose3d_ros.node_logic.DepthCheck`) -> a raw :class:`~pose3d_ros.node_logic.SkeletonFrame` (one
  Skeleton3DArray);
* temporal: :class:`pose3d_ros.node_logic.TemporalFrames` around the ``StreamingRefiner`` -> refined frames,
  released ``lookahead`` frames later and grouped by stamp exactly as the temporal node publishes them; for
  recordings the ``OfflineRefiner`` instead (``PipelineSettings.offline``), released a chunk at a time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_ros.node_logic.camera_attitude import up_from_parameters
from pose3d_ros.node_logic.camera_info import SUPPORTED_DISTORTION, undistort_keypoints
from pose3d_ros.node_logic.depth_input import DepthCheck
from pose3d_ros.node_logic.parameters import PARAMETERS, check_parameter, file_sections, parameter_defaults
from pose3d_ros.node_logic.temporal_frames import SkeletonFrame
from pose3d_ros.skeleton import WHOLEBODY133, get_layout

from .sources import CameraModel

LOG = logging.getLogger(__name__)

NODES = {"keypoints2d": "keypoints2d_node", "lifter": "lifter_node", "temporal": "temporal_node"}
_WARNED_MODELS: set[str] = set()


def lift_keypoints(lifter: Any, stamp_ns: int, frame_id: str, kp2d: np.ndarray, conf: np.ndarray,
                   person_ids: np.ndarray, camera: CameraModel, undistort: bool = True,
                   depth_m: np.ndarray | None = None, image_size: tuple[int, int] | None = None,
                   up: np.ndarray | None = None) -> SkeletonFrame:
    """The lifter step: P people's 2D keypoints (raw image pixels) -> their 3D skeletons in the camera frame.

    With ``undistort`` and a camera with distortion, the keypoints are first moved to the ideal pinhole image
    of K, which is what the lifter assumes (the 2D messages keep the raw pixels). ``depth_m``: a depth image in
    metres aligned to the colour image of ``image_size`` (checked by :class:`~pose3d_ros.node_logic.DepthCheck`).
    ``up``: the world's up direction in the camera frame when the camera's attitude is known.
    """
    if undistort and camera.distortion is not None and len(kp2d):
        if camera.distortion_model in SUPPORTED_DISTORTION:
            kp2d = undistort_keypoints(kp2d, camera.K, camera.distortion, camera.distortion_model)
        elif camera.distortion_model not in _WARNED_MODELS:
            _WARNED_MODELS.add(camera.distortion_model)
            LOG.warning("distortion model %r is not supported (supported: %s); keypoints are lifted as if "
                        "undistorted", camera.distortion_model, ", ".join(SUPPORTED_DISTORTION))
    result = lifter.lift(kp2d, conf, camera.K, depth=depth_m, image_size=image_size, up=up)
    return SkeletonFrame(int(stamp_ns), frame_id, np.asarray(person_ids, np.int64), result.positions,
                         np.asarray(conf, np.float32), result.error, result.status, result.placement)


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineSettings:
    """Parameters of the three stages, by stage ("keypoints2d", "lifter", "temporal"), named as the nodes' ones.

    Start from :meth:`defaults` or :meth:`from_params_file` and change values with :meth:`replace`; every value
    is checked against the nodes' parameter list. ``temporal_enabled`` False runs without the temporal stage.
    """

    keypoints2d: dict[str, Any]
    lifter: dict[str, Any]
    temporal: dict[str, Any]
    temporal_enabled: bool = True
    offline: bool = False
    """Refine offline (centred windows, both ways in time: recordings) instead of streaming."""

    @classmethod
    def defaults(cls) -> PipelineSettings:
        return cls(**{stage: parameter_defaults(node) for stage, node in NODES.items()})

    @classmethod
    def from_params_file(cls, path: Path) -> PipelineSettings:
        """Settings from a ROS 2 parameter file (config/pipeline.yaml or a copy), read as the launch files read it:
        each stage takes the ``/**`` section's parameters it has, then its node's own section, where a name the
        node does not have is an error (a typo would otherwise be silently ignored).
        """
        from ruamel.yaml import YAML, YAMLError

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file {path} does not exist")
        try:
            content = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        except YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}") from err
        except RecursionError:
            raise ValueError(f"{path}: the YAML is nested too deeply to be a parameters file") from None
        if not isinstance(content, dict):
            raise ValueError(f"{path}: a parameters file is a mapping of node names to ros__parameters")
        settings, used = cls.defaults(), set()
        for stage, node in NODES.items():
            try:
                common, own = file_sections(content, node)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from err
            except RecursionError:  # an alias that holds itself (&a {x: *a})
                raise ValueError(f"{path}: the parameters of {node} refer to themselves (a YAML alias inside its "
                                 "own anchor)") from None
            known = {p.name for p in PARAMETERS[node]}
            used |= known & set(common)
            shared = {name: value for name, value in common.items() if name in known}
            try:
                settings = settings.replace(stage, **{**shared, **own})
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from err
        ignored = sorted(set(common) - used)
        if ignored:
            LOG.info("%s: /** parameters no stage has, ignored as the nodes ignore them: %s", path,
                     ", ".join(ignored))
        return settings

    def torch_threads(self) -> int:
        """Torch's CPU threads for a process that runs both the lifter and the refiner: the larger of the two
        nodes' thread counts.
        """
        return max(self.lifter["cpu_threads"], self.temporal["cpu_threads"] if self.temporal_enabled else 1)

    def replace(self, stage: str, **values: Any) -> PipelineSettings:
        """A copy with some parameters of one stage changed (checked like the node checks them)."""
        if stage not in NODES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(NODES)}")
        node = NODES[stage]
        known = {p.name for p in PARAMETERS[node]}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{node} has no parameter {', '.join(unknown)}")
        updated = dict(getattr(self, stage))
        updated.update({name: check_parameter(node, name, value) for name, value in values.items()})
        return PipelineSettings(**{**self.__dict__, stage: updated})

    def without_temporal(self) -> PipelineSettings:
        return PipelineSettings(self.keypoints2d, self.lifter, self.temporal, temporal_enabled=False)

    def with_offline_refinement(self) -> PipelineSettings:
        return PipelineSettings(self.keypoints2d, self.lifter, self.temporal, offline=True)

    def detector_options(self) -> tuple[str, dict[str, Any]]:
        """``create_detector`` backend and options, from the keypoints2d parameters."""
        from pose3d_ros.keypoints2d.detector import detector_options

        return detector_options(self.keypoints2d)

    def refiner_options(self) -> dict[str, Any]:
        """``StreamingRefiner.load`` keywords, as temporal_node passes them (window 0: the trained one)."""
        p = self.temporal
        return {"weights": p["weights"] or None, "window": p["window"] or None, "lookahead": p["lookahead"],
                "max_gap": p["max_gap"], "device": p["device"]}

    def load_refiner(self) -> Any:
        """The temporal stage's refiner: streaming (what temporal_node runs) or, with ``offline``, the offline one
        (``weights`` then names offline weights; the streaming-only parameters do not apply).
        """
        if self.offline:
            from pose3d_ros.temporal import OfflineRefiner

            return OfflineRefiner.load(self.temporal["weights"] or None, device=self.temporal["device"])
        from pose3d_ros.temporal import StreamingRefiner

        options = self.refiner_options()
        return StreamingRefiner.load(options.pop("weights"), **options)


# --------------------------------------------------------------------------------------------------
# The composed pipeline
# --------------------------------------------------------------------------------------------------


class PosePipeline:
    """The three stages in one process: ``detect`` -> ``lift`` -> ``refine``; ``finish`` at the end of a stream.

    Loads the models the settings name (the shipped ones by default) on the settings' device; ``detector``,
    ``lifter`` and ``refiner`` replace them with already-loaded ones (any objects with the same methods).
    """

    def __init__(self, settings: PipelineSettings | None = None, *, detector: Any = None, lifter: Any = None,
                 refiner: Any = None) -> None:
        from pose3d_ros.node_logic.temporal_frames import TemporalFrames

        self.settings = settings = settings or PipelineSettings.defaults()
        if lifter is None:
            import torch

            from pose3d_ros.lifting import Lifter

            torch.set_num_threads(settings.torch_threads())

            parameters = settings.lifter
            lifter = Lifter.load(parameters["weights"] or None, device=parameters["device"],
                                 body_expert=parameters["body_expert"] or None, flip_test=parameters["flip_test"],
                                 perspective_correction=parameters["perspective_correction"],
                                 conf_threshold=parameters["conf_threshold"],
                                 person_height_m=parameters["person_height_m"])
        self.lifter = lifter
        self.up = up_from_parameters(settings.lifter["camera_pitch_deg"], settings.lifter["camera_roll_deg"])
        self.layout = get_layout(lifter.layout.name)
        if detector is None and self.layout.name != WHOLEBODY133.name:
            raise ValueError(f"the lifter is for layout {self.layout.name}, but the 2D stage gives "
                             f"{WHOLEBODY133.name} keypoints: the pipeline needs a {WHOLEBODY133.name} lifter "
                             f"({self.layout.name} weights are for `pose3d eval lifter` and for ROS graphs whose 2D "
                             f"comes from elsewhere)")
        self.refiner = None
        self.temporal = None
        if settings.temporal_enabled:
            if refiner is None:
                refiner = settings.load_refiner()
            if refiner.layout.name != self.layout.name:
                raise ValueError(f"the refiner is for layout {refiner.layout.name}, the lifter for "
                                 f"{self.layout.name}: give refiner weights for {self.layout.name}, or run "
                                 "without the temporal stage")
            self.refiner = refiner
            self.temporal = TemporalFrames(refiner, self.layout.num_joints)
        if detector is None:
            from pose3d_ros.keypoints2d import create_detector

            backend, options = settings.detector_options()
            detector = create_detector(backend, **options)
        self.detector = detector
        self.depth = DepthCheck()
        self._first_stamp_ns: int | None = None

    def is_settled(self, newer_frames: int) -> bool:
        """Whether a frame's refined skeletons are all out once ``newer_frames`` frames came after it: when the
        temporal stage holds no more than those newer frames. Without the temporal stage a frame is final at once.
        """
        return self.temporal is None or newer_frames >= self.temporal.held

    def detect(self, image: np.ndarray, stamp_ns: int) -> Any:
        """The 2D stage on a BGR image: a :class:`~pose3d_ros.keypoints2d.Keypoints2D`.

        Like keypoints2d_node, the detector gets seconds since the stream's first frame (tracking backends need
        increasing times, and small numbers keep MediaPipe's millisecond clock exact).
        """
        if self._first_stamp_ns is None:
            self._first_stamp_ns = stamp_ns
        return self.detector(image, timestamp_s=(stamp_ns - self._first_stamp_ns) / 1e9)

    def lift(self, keypoints: Any, camera: CameraModel, stamp_ns: int, frame_id: str,
             depth: np.ndarray | None = None, depth_encoding: str | None = None) -> SkeletonFrame:
        """The lift step; ``depth`` an aligned depth image (uint16 mm or float m, ``depth_encoding`` its ROS
        encoding when known): one that cannot be used is logged once per problem, counted in ``self.depth``, and
        the people are placed without it.
        """
        frame_id = self.settings.lifter["camera_frame"] or frame_id
        image_size = tuple(keypoints.image_size)
        depth_m = None if depth is None else self.depth.metres(depth, depth_encoding, image_size)
        if self.depth.warning:
            LOG.warning("%s", self.depth.warning)
        return lift_keypoints(self.lifter, stamp_ns, frame_id, keypoints.kp2d, keypoints.conf,
                              keypoints.person_ids, camera, self.settings.lifter["undistort"], depth_m, image_size,
                              self.up)

    def refine(self, raw: SkeletonFrame) -> list:
        """Refined frames (node_logic.SkeletonFrame) that ``raw`` completes; none until the look-ahead is filled."""
        if self.temporal is None:
            raise RuntimeError("this pipeline runs without the temporal stage")
        return self.temporal.push(raw.stamp_ns, raw.frame_id, raw.person_ids, raw.positions, raw.confidence,
                                  raw.error, raw.status)

    def finish(self) -> list:
        """End of stream: the refined frames the temporal stage still holds."""
        return self.temporal.flush() if self.temporal is not None else []

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> PosePipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
