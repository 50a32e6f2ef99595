"""``pose3d bench ros``: the ROS graph's cost per node and where its 2D stage starts dropping frames.

For each input rate, ``ros2 launch pose3d_ros pipeline.launch.py`` plays a video (video_source_node's ``fps``,
in a looped file) through the nodes; after a warm-up, over a fixed window, it measures

* each node process's CPU use: user + system time from ``/proc/<pid>/stat`` (all its threads) over wall time,
  1.0 = one core busy;
* each stage's input, output and drop rates and mean latency from its ``/diagnostics`` status: the differences
  of the ``total inputs`` / ``total outputs`` / ``total dropped`` counters between the first status received in
  the window and the last, over the time between them (so the 1 s diagnostics period costs no accuracy).

Everything here but the /diagnostics subscriber (``pose3d_ros.ros.diagnostics_probe``) is free of ROS, so that
the accounting is tested without it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)
NODES = ("video_source_node", "keypoints2d_node", "lifter_node", "temporal_node")
"""The node processes measured (their executables' names), in the graph's order."""
DROP_ONSET_RATIO = 0.05
"""The 2D stage counts as dropping at a rate where it drops more than this share of its input frames."""


# ---- CPU of processes, from /proc -------------------------------------------------------------------------------


def cpu_seconds(stat: str, ticks_per_s: float) -> float:
    """User + system CPU seconds of a process from the text of its ``/proc/<pid>/stat``.

    The second field, the command name, is in parentheses and may hold spaces and parentheses itself, so the
    fields are counted from its last ``)``: utime and stime are the 14th and 15th fields.
    """
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def node_processes(root_pid: int, names: tuple[str, ...] = NODES, proc: Path = Path("/proc")) -> dict[str, int]:
    """The processes below ``root_pid`` (a ``ros2 launch``) that run one of the nodes ``names``, by node.

    A node runs as ``python3 .../lib/pose3d_ros/<node>`` (with ``--ros-args ...``): the node is the name of the
    executable among its first arguments. Processes that vanish while they are read are left out.
    """
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: dict[str, int] = {}
    stack = list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        executables = {Path(arg.decode(errors="replace")).name for arg in argv[:3]}
        for name in names:
            if name in executables:
                found[name] = pid
    return found


class CpuWindow:
    """CPU use of named processes between ``start`` and ``stop``: CPU seconds over wall seconds, by name."""

    def __init__(self, pids: Mapping[str, int], proc: Path = Path("/proc"),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pids, self.proc, self.clock = dict(pids), proc, clock
        self.ticks_per_s = float(os.sysconf("SC_CLK_TCK"))
        self._start: tuple[float, dict[str, float]] | None = None

    def _read(self) -> dict[str, float]:
        seconds = {}
        for name, pid in self.pids.items():
            try:
                seconds[name] = cpu_seconds((self.proc / str(pid) / "stat").read_text(), self.ticks_per_s)
            except OSError:  # the process ended: no figure rather than a wrong one
                continue
        return seconds

    def start(self) -> None:
        self._start = (self.clock(), self._read())

    def stop(self) -> dict[str, float]:
        """CPU use per process (1.0 = one core), for those alive at both ends of the window."""
        if self._start is None:
            raise RuntimeError("CpuWindow.stop before start")
        began, before = self._start
        wall, after = self.clock() - began, self._read()
        return {name: (after[name] - before[name]) / wall for name in before if name in after and wall > 0}


# ---- stages, from /diagnostics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStatus:
    """One stage's diagnostic status as received: when, its level, message and key/values."""

    received_s: float
    level: int
    message: str
    values: Mapping[str, str]

    def total(self, key: str) -> int:
        return int(self.values[f"total {key}"])

    def mean_latency_ms(self) -> float | None:
        value = self.values.get("mean latency (ms)", "n/a")
        return None if value == "n/a" else float(value)


def stage_of(status_name: str, nodes: tuple[str, ...] = NODES) -> str | None:
    """The node a diagnostic status belongs to: diagnostic_updater names it ``<node name>: <task>`` (the node name
    with its namespace, or without a leading slash).
    """
    node = status_name.split(":", 1)[0].strip().rsplit("/", 1)[-1]
    return node if node in nodes else None


def stage_window(first: StageStatus, last: StageStatus) -> dict:
    """Rates and drops of a stage between two of its statuses: counters' differences over the time between them."""
    span = last.received_s - first.received_s
    if span <= 0:
        raise ValueError("the window holds a single diagnostics status of this stage: make it longer")
    inputs = last.total("inputs") - first.total("inputs")
    dropped = last.total("dropped") - first.total("dropped")
    return {"input_hz": inputs / span, "output_hz": (last.total("outputs") - first.total("outputs")) / span,
            "dropped_hz": dropped / span, "drop_ratio": dropped / inputs if inputs else 0.0,
            "mean_latency_ms": last.mean_latency_ms(), "level": last.level, "message": last.message}


class DiagnosticsWindow:
    """The first and the latest status of each stage received while the window is open (``add`` each one)."""

    def __init__(self) -> None:
        self.open = False
        self.first: dict[str, StageStatus] = {}
        self.last: dict[str, StageStatus] = {}
        self.latest: dict[str, StageStatus] = {}
        """Every stage's newest status, open or not (what the warm-up waits on)."""

    def add(self, name: str, status: StageStatus) -> None:
        stage = stage_of(name)
        if stage is None:
            return
        self.latest[stage] = status
        if self.open:
            self.first.setdefault(stage, status)
            self.last[stage] = status

    def start(self) -> None:
        self.first, self.last, self.open = {}, {}, True

    def stop(self) -> dict[str, dict]:
        self.open = False
        return {stage: stage_window(self.first[stage], self.last[stage]) for stage in self.first
                if self.last[stage] is not self.first[stage]}


# ---- the sweep --------------------------------------------------------------------------------------------------


def cpu_per_frame(cpu_use: Mapping[str, float], stages: Mapping[str, dict]) -> dict[str, float]:
    """CPU milliseconds per frame a node put out: what a node costs whatever else runs on the machine (a loaded
    machine slows its rate, not much its cost per frame).
    """
    return {node: 1000.0 * use / stages[node]["output_hz"] for node, use in cpu_use.items()
            if node in stages and stages[node]["output_hz"] > 0}


def drop_onset(rates: list[dict], stage: str = "keypoints2d_node", ratio: float = DROP_ONSET_RATIO) -> float | None:
    """The lowest input rate at which ``stage`` dropped more than ``ratio`` of its frames (None: at no rate)."""
    dropping = [r["rate_hz"] for r in rates if r["stages"].get(stage, {}).get("drop_ratio", 0.0) > ratio]
    return min(dropping) if dropping else None


def params_file_for(template: Path, fps: float, out: Path) -> Path:
    """The launch's params file with video_source_node's ``fps`` and ``loop`` set (the rest as given)."""
    from ruamel.yaml import YAML

    yaml = YAML()
    document = yaml.load(template.read_text(encoding="utf-8"))
    section = document.setdefault("video_source_node", {}).setdefault("ros__parameters", {})
    section["fps"], section["loop"] = float(fps), True
    with out.open("w", encoding="utf-8") as stream:
        yaml.dump(document, stream)
    return out


@dataclass
class SweepSettings:
    source: Path
    rates: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 30.0)
    warmup_s: float = 10.0
    window_s: float = 20.0
    start_timeout_s: float = 180.0
    params_file: Path = Path("pipeline.yaml")
    """The nodes' parameters (the launch's params_file), to which each rate's fps is added."""
    log_dir: Path | None = None
    retries: int = 1
    """Launches of a rate that ended by themselves (a signal from elsewhere) are tried again this often."""


class LaunchEnded(RuntimeError):
    """ros2 launch exited before the window was measured."""


def measure_rate(settings: SweepSettings, rate: float, params_file: Path, diagnostics: DiagnosticsWindow,
                 spin: Callable[[float], None], log_path: Path) -> dict:
    """One launch of the pipeline at ``rate``: wait until every stage has output, warm up, measure one window."""
    command = ["ros2", "launch", "pose3d_ros", "pipeline.launch.py", f"source:={settings.source}", "loop:=true",
               f"params_file:={params_file}"]
    with log_path.open("w") as log:
        launch = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        diagnostics.latest.clear()
        deadline = time.monotonic() + settings.start_timeout_s
        while not _all_stages_output(diagnostics):
            if launch.poll() is not None:
                raise LaunchEnded(f"ros2 launch ended (exit code {launch.poll()}) before every stage published; "
                                  f"see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pipeline did not start within {settings.start_timeout_s:.0f} s; see "
                                   f"{log_path}")
            spin(0.5)
        spin(settings.warmup_s)
        pids = node_processes(launch.pid)
        cpu = CpuWindow(pids)
        load_before = os.getloadavg()[0]
        diagnostics.start()
        cpu.start()
        spin(settings.window_s)
        if launch.poll() is not None:
            raise LaunchEnded(f"ros2 launch ended (exit code {launch.poll()}) during the window; see {log_path}")
        cpu_use = cpu.stop()
        stages = diagnostics.stop()
        return {"rate_hz": rate, "cpu": cpu_use, "cpu_total": sum(cpu_use.values()), "stages": stages,
                "cpu_ms_per_frame": cpu_per_frame(cpu_use, stages),
                "load_average_1min": [load_before, os.getloadavg()[0]], "pids": pids}
    finally:
        stop_launch(launch)


def _all_stages_output(diagnostics: DiagnosticsWindow) -> bool:
    return all(node in diagnostics.latest and diagnostics.latest[node].values.get("total outputs", "0") != "0"
               for node in NODES)


def stop_launch(launch: subprocess.Popen, timeout_s: float = 20.0) -> None:
    """SIGINT to ``ros2 launch`` alone (as Ctrl-C: it passes it on to each node once; a node's second signal would
    end it at once), then SIGTERM and SIGKILL to its whole process group, each after ``timeout_s``; at the end
    SIGKILL to what is left of the group.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if launch.poll() is not None:
            break
        try:
            if signum == signal.SIGINT:
                launch.send_signal(signum)
            else:
                os.killpg(launch.pid, signum)
        except ProcessLookupError:
            break
        try:
            launch.wait(timeout_s)
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(launch.pid, signal.SIGKILL)  # whatever of the launch's processes outlived it
    except ProcessLookupError:
        pass


def run_sweep(settings: SweepSettings, diagnostics: DiagnosticsWindow, spin: Callable[[float], None]) -> dict:
    """Every rate in turn, each in a fresh launch; the report with the 2D stage's drop onset."""
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix="pose3d-bench-ros-") as scratch:
        logs = settings.log_dir or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        for rate in settings.rates:
            params = params_file_for(settings.params_file, rate, Path(scratch) / f"params_{rate:g}hz.yaml")
            for attempt in range(1 + settings.retries):
                try:
                    results.append(measure_rate(settings, rate, params, diagnostics, spin,
                                                logs / f"launch_{rate:g}hz_{attempt}.log"))
                    break
                except LaunchEnded as err:  # e.g. stopped by someone else's signal: once more, then give up
                    LOG.warning("%s Hz: %s", f"{rate:g}", err)
            else:
                raise RuntimeError(f"the pipeline ended early at {rate:g} Hz in each of {1 + settings.retries} "
                                   f"tries; see the logs in {logs}")
    return {"source": str(settings.source), "warmup_s": settings.warmup_s, "window_s": settings.window_s,
            "cpu_count": os.cpu_count(), "rates": results, "drop_onset_hz": drop_onset(results),
            "drop_onset_ratio": DROP_ONSET_RATIO}


def report_lines(report: dict) -> list[str]:
    lines = [f"pose3d bench ros: {report['source']}, {report['window_s']:g} s windows after {report['warmup_s']:g} s "
             f"warm-up, {report['cpu_count']} CPUs; CPU 1.00 = one core busy"]
    header = "  input Hz | load 1min | " + " | ".join(f"{node} CPU (ms/frame), in/out Hz, drop %, latency ms"
                                                    for node in NODES)
    lines.append(header)
    for result in report["rates"]:
        cells = []
        for node in NODES:
            stage = result["stages"].get(node, {})
            latency = stage.get("mean_latency_ms")
            cells.append(f"{result['cpu'].get(node, float('nan')):.2f} "
                         f"({result['cpu_ms_per_frame'].get(node, float('nan')):.0f}), "
                         f"{stage.get('input_hz', float('nan')):.1f}/"
                         f"{stage.get('output_hz', float('nan')):.1f}, "
                         f"{100 * stage.get('drop_ratio', float('nan')):.0f}, "
                         f"{'-' if latency is None else f'{latency:.0f}'}")
        loads = result["load_average_1min"]
        lines.append(f"  {result['rate_hz']:8g} | {loads[0]:.1f}-{loads[1]:.1f} | " + " | ".join(cells)
                     + f" | all nodes {result['cpu_total']:.2f}")
    onset = report["drop_onset_hz"]
    lines.append(f"  keypoints2d_node drops more than {100 * report['drop_onset_ratio']:.0f} % of its frames from "
                 + ("no rate measured" if onset is None else f"{onset:g} Hz input"))
    return lines
