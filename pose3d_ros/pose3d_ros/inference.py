"""What the lifter and the temporal refiner share at inference: choosing the device, freezing the network, and
describing latencies and the machine they were measured on.
"""

from __future__ import annotations

import logging
import os
import platform
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

LOG = logging.getLogger(__name__)

WARM_UP_CALLS = 2
"""Calls after which TorchScript's profiling executor has optimised a frozen graph."""


def resolve_device(device: str | torch.device, what: str = "the network") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; ``"cuda"`` without CUDA falls back to the CPU with a warning
    that names ``what`` runs there.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            LOG.warning("CUDA was requested but is not available; running %s on the CPU", what)
            return torch.device("cpu")
        try:
            return torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"unknown device {device!r}: {err}") from err
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {device!r}; expected 'auto', 'cuda', 'cuda:N' or 'cpu'")


def frozen_trace(model: nn.Module, example: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    """``model`` (in eval mode) traced on ``example`` and frozen (constants folded, batch norms fused).

    A one-person step is dominated by per-operation overhead on a CPU: the frozen trace runs the same arithmetic in
    0.65x (3D-UGCN) to 0.8x (SemGAN) of eager PyTorch's time and needs no compiler, unlike ``torch.compile``. Our
    networks have no data-dependent control flow, so a trace holds for any batch size (tested). TorchScript is
    deprecated as of torch 2.13 but still supported; its warnings are silenced here. It comes back warm (see
    WARM_UP_CALLS).
    """
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape arithmetic recorded as constants
        warnings.simplefilter("ignore", DeprecationWarning)
        frozen = torch.jit.freeze(torch.jit.trace(model.eval(), example, check_trace=False))
        # TorchScript's profiling executor runs a graph unoptimised on its first calls (5-10x slower): warm it here,
        # so that the first frames of a stream do not stall.
        for _ in range(WARM_UP_CALLS):
            frozen(*example)
        return frozen


def machine_facts() -> dict:
    """What a latency figure depends on besides the code, for the benchmarks' JSON: the CPU, its cores and those this
    process may run on (its affinity, which a container or taskset may narrow), how busy it was (1-minute load
    average), torch and its thread count.
    """
    cpu = platform.processor() or platform.machine() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "usable_cpus": usable, "load_average_1min": os.getloadavg()[0],
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def latency_percentiles(values_ms) -> dict:
    """The benchmarks' summary of per-call times: mean, median and 95th percentile, in the unit given."""
    values = np.asarray(values_ms, dtype=np.float64)
    return {"mean": float(values.mean()), "p50": float(np.median(values)), "p95": float(np.percentile(values, 95))}
