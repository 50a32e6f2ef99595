"""What defines a lifter: the model kind and size, the skeleton layout and the input features.

A :class:`LifterConfig` is the JSON half of a weights file (the tensors are the safetensors half), so everything
needed to rebuild the network and to prepare its input lives here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..skeleton import get_layout

MODEL_KINDS = ("semgan", "semgcn", "simplebaseline")
GRAVITY_CHANNELS = 4
"""The gravity input: the up direction (3) and its known flag (1)."""
LIFTING_LAYOUTS = ("wholebody133", "h36m17")


@dataclass(frozen=True)
class InputConfig:
    """Per-joint input channels (see :mod:`pose3d_ros.lifting.normalization`)."""

    distance: bool = True
    """Append each joint's 2D distance to its parent joint (the seed's X = (J, D))."""
    confidence: bool = False
    """Append the 2D detector's confidence, so the model can tell seen joints from filled-in ones."""
    part_offsets: bool = False
    """Append each joint's 2D offset from the body joint its part hangs from (nose, wrists; ``Layout.part_anchors``)
    times ``PART_OFFSET_GAIN``, zero for body joints: the face's and hands' local shape at the body's scale."""
    gravity: bool = False
    """Append, on every joint, the world's up direction in the (virtual) camera's frame and a flag that says whether
    it is known (zeros when not): the camera's attitude, which the 2D pose alone leaves open."""

    @property
    def channels(self) -> int:
        return 2 + int(self.distance) + int(self.confidence) + 2 * int(self.part_offsets) + GRAVITY_CHANNELS * int(
            self.gravity)


@dataclass(frozen=True)
class SemGANConfig:
    """Semantic Graph Attention Network sizes and the seed's Table 1 ablation switches."""

    dim: int = 64
    """Joint feature width (256 in the seed; 64 trains on a CPU)."""
    depth: int = 4
    """Encoder blocks (self-attention + SemGCN feed-forward)."""
    heads: int = 4
    ffn_ratio: int = 2
    """Hidden width of each feed-forward part as a multiple of ``dim``."""
    decoder: bool = True
    """Body-part decoder (two self-attention layers per part, SemGCN head); False = encoder + linear head."""
    decoder_layers: int = 2
    anchored_parts: bool = True
    """The decoder's face and hand parts output their joints relative to the body joint they hang from (nose,
    wrists), which the body part places; False = every joint relative to the pelvis, as in the seed."""
    dropout: float = 0.0


@dataclass(frozen=True)
class SemGCNConfig:
    """Zhao et al.'s SemGCN: an input graph convolution, residual blocks of two, an output graph convolution."""

    hidden: int = 128
    blocks: int = 4
    dropout: float = 0.0


@dataclass(frozen=True)
class SimpleBaselineConfig:
    """Martinez et al.'s residual MLP on the flattened pose."""

    hidden: int = 1024
    blocks: int = 2
    dropout: float = 0.5


ARCHITECTURE_CONFIGS = {"semgan": SemGANConfig, "semgcn": SemGCNConfig, "simplebaseline": SimpleBaselineConfig}


@dataclass(frozen=True)
class LifterConfig:
    """Everything that defines a trained lifter except its tensors."""

    model: str = "semgan"
    layout: str = "wholebody133"
    inputs: InputConfig = field(default_factory=InputConfig)
    architecture: SemGANConfig | SemGCNConfig | SimpleBaselineConfig = field(default_factory=SemGANConfig)
    input_map: tuple[tuple[float, ...], ...] | None = None
    """A body expert's (h36m17 only): its 2D input as affine combinations of the COCO-WholeBody body joints,
    (17, 23) (:mod:`pose3d_ros.lifting.body_expert`), the map it was trained on; None for an ordinary lifter."""

    def __post_init__(self) -> None:
        if self.input_map is not None:
            from .body_expert import BODY_SOURCES

            rows = tuple(tuple(float(v) for v in row) for row in self.input_map)  # from arrays or JSON lists
            if self.layout != "h36m17" or len(rows) != 17 or any(len(row) != BODY_SOURCES for row in rows):
                raise ValueError(f"an input_map is (17, {BODY_SOURCES}) and belongs to an h36m17 lifter")
            object.__setattr__(self, "input_map", rows)
        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown lifting model {self.model!r}; expected one of {', '.join(MODEL_KINDS)}")
        if self.layout not in LIFTING_LAYOUTS:
            raise ValueError(f"the lifter supports layouts {', '.join(LIFTING_LAYOUTS)}, not {self.layout!r}")
        if not isinstance(self.architecture, ARCHITECTURE_CONFIGS[self.model]):
            raise ValueError(f"model {self.model!r} needs a {ARCHITECTURE_CONFIGS[self.model].__name__}, "
                             f"got {type(self.architecture).__name__}")

    @classmethod
    def create(cls, model: str, layout: str, *, distance: bool = True, confidence: bool = False,
               part_offsets: bool = False, gravity: bool = False, input_map=None, **architecture) -> LifterConfig:
        """A config with the default architecture of ``model``, overridden by ``architecture`` keywords."""
        if model not in ARCHITECTURE_CONFIGS:
            raise ValueError(f"unknown lifting model {model!r}; expected one of {', '.join(MODEL_KINDS)}")
        arch_cls = ARCHITECTURE_CONFIGS[model]
        known = {f.name for f in dataclasses.fields(arch_cls)}
        unknown = sorted(set(architecture) - known)
        if unknown:
            raise ValueError(f"{model} has no setting(s) {', '.join(unknown)}; it has {', '.join(sorted(known))}")
        return cls(model=model, layout=layout, inputs=InputConfig(distance=distance, confidence=confidence,
                                                                  part_offsets=part_offsets, gravity=gravity),
                   architecture=arch_cls(**architecture), input_map=input_map)

    @property
    def skeleton(self):
        return get_layout(self.layout)

    def to_dict(self) -> dict:
        document = {"model": self.model, "layout": self.layout, "inputs": dataclasses.asdict(self.inputs),
                    "architecture": dataclasses.asdict(self.architecture)}
        if self.input_map is not None:
            document["input_map"] = [list(row) for row in self.input_map]
        return document

    @classmethod
    def from_dict(cls, data: dict) -> LifterConfig:
        """Inverse of :meth:`to_dict`, with a clear error for anything missing or unknown."""
        try:
            model, layout = data["model"], data["layout"]
            inputs = InputConfig(**data.get("inputs", {}))
            if model not in ARCHITECTURE_CONFIGS:
                raise ValueError(f"unknown lifting model {model!r}; expected one of {', '.join(MODEL_KINDS)}")
            architecture = dict(data.get("architecture", {}))
            if model == "semgan":  # files written before anchored parts existed decode every part from the pelvis
                architecture.setdefault("anchored_parts", False)
            architecture = ARCHITECTURE_CONFIGS[model](**architecture)
            return cls(model=model, layout=layout, inputs=inputs, architecture=architecture,
                       input_map=data.get("input_map"))
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"invalid lifter config: {err!r}") from err
