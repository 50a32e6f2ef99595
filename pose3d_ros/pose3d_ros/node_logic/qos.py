"""QoS settings of the nodes' subscriptions and publishers, and the hint a mismatch gets."""

from __future__ import annotations

from dataclasses import dataclass

MAX_QUEUE_DEPTH = 10


@dataclass(frozen=True)
class QosSettings:
    """Keep-last, volatile; reliability and depth from parameters (the ROS layer builds the QoSProfile)."""

    reliability: str
    depth: int


OUTPUT_QOS_SETTINGS = QosSettings("reliable", 1)
"""Every node's outputs: reliable (matches reliable and best-effort subscribers), keep-last 1. A subscriber that
never reads holds up nothing: a keep-last writer replaces its one sample instead of blocking or queueing."""


def qos_settings(reliability: str, depth: int) -> QosSettings:
    if reliability not in ("best_effort", "reliable"):
        raise ValueError(f"qos.reliability must be best_effort or reliable, got {reliability!r}")
    if not 1 <= int(depth) <= MAX_QUEUE_DEPTH:
        raise ValueError(f"qos.depth must be between 1 and {MAX_QUEUE_DEPTH} (a deeper queue only adds latency), "
                         f"got {depth}")
    return QosSettings(reliability, int(depth))


def qos_mismatch_hint(policy: str, own_reliability: str) -> str:
    """What to change when a publisher and our subscription cannot talk, for the warning the node logs."""
    if policy.upper() == "RELIABILITY" and own_reliability == "reliable":
        return ("the publisher is best-effort but this subscription requires reliable delivery: set "
                "qos.reliability to best_effort")
    if policy.upper() == "DURABILITY":
        return "the publisher is volatile while a transient-local subscriber asked for old messages"
    return f"the {policy} policies of publisher and subscription are incompatible"
