"""``pose3d run``: the whole pipeline on a video, a webcam, a rosbag2 / MCAP recording or the demo clip."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from pose3d_ros.cli import write_json_report

LOG = logging.getLogger("pose3d.run")

DEFAULT_OUT = Path("pose3d_out")
REFINE_MODES = ("auto", "offline", "streaming", "none")


def register(add_command) -> None:
    _register_refine(add_command)
    parser = add_command(
        "run", run_command,
        "run the pipeline (2D keypoints -> 3D lifting -> temporal refinement) on a video file, a webcam, a rosbag2 "
        "folder or .mcap file, or 'demo'; writes skeletons.npz, pose3d.mcap and optionally render.mp4")
    source = parser.add_argument_group("input")
    source.add_argument("--source", metavar="SRC",
                        help="video file, webcam index (0, 1, ...), rosbag2 folder, .mcap/.db3 file, or 'demo' "
                             "(a synthetic clip made on the fly, four people; demo:N for N = 1-4; demo:reach, one "
                             "person reaching into a zone, for --safety); default: webcam 0")
    source.add_argument("--max-frames", type=_positive_int, metavar="N",
                        help="stop after N frames (default: the whole source; Ctrl-C also stops cleanly)")
    source.add_argument("--image-topic", metavar="T", help="recordings: sensor_msgs/Image or CompressedImage topic "
                        "(default: the only image topic)")
    source.add_argument("--camera-info-topic", metavar="T", help="recordings: sensor_msgs/CameraInfo topic (default: "
                        "<image namespace>/camera_info, or the only one)")
    source.add_argument("--depth-topic", metavar="T",
                        help="recordings: depth aligned to the images (sensor_msgs/Image 16UC1 mm or 32FC1 m), used "
                             "to place people (default: the only Image topic with 'depth' in its name, or the aligned "
                             "one of several)")
    source.add_argument("--no-depth", action="store_true", help="recordings: do not read depth")
    source.add_argument("--depth-max-offset", type=float, metavar="S",
                        help="largest stamp difference between an image and its depth image (default: lifter_node's "
                             "depth_max_offset_s, 0.05 s)")
    for name in ("fx", "fy", "cx", "cy"):
        source.add_argument(f"--{name}", type=float, metavar="PX",
                            help=f"intrinsics {name} in pixels, replacing the CameraInfo's or the default's")

    stages = parser.add_argument_group(
        "stages", "the nodes' parameters (docs/ros.md); each flag given replaces the --params-file value")
    stages.add_argument("--params-file", type=Path, metavar="YAML",
                        help="ROS 2 parameter file of the nodes (e.g. the package's config/pipeline.yaml): the "
                             "keypoints2d_node, lifter_node and temporal_node sections (default: their defaults)")
    stages.add_argument("--device", help="auto | cpu | cuda[:N] for the lifter and the refiner (default: auto)")
    stages.add_argument("--refine", choices=REFINE_MODES, default="auto",
                        help="temporal stage: offline (centred windows, both ways in time: more accurate, outputs "
                             "1.3 s behind), streaming (the live refiner, 0.16 s look-ahead) or none (raw lifter "
                             "output only); auto (the default): offline for files, recordings and the demo, "
                             "streaming for a camera and with --safety")
    stages.add_argument("--backend", choices=("movenet", "holistic", "tasks"),
                        help="2D stage: movenet (several people, the default), holistic (one person) or tasks "
                             "(several people, needs MediaPipe .task model files)")
    stages.add_argument("--model-complexity", type=int, choices=(0, 1, 2),
                        help="holistic: pose model size (only 1 is bundled with mediapipe)")
    stages.add_argument("--model-dir", type=Path, metavar="DIR", help="tasks: folder holding the .task model files")
    stages.add_argument("--max-people", type=int, metavar="N",
                        help="movenet (1-6), tasks: most people per image (default: 6)")
    stages.add_argument("--person-height", type=float, metavar="M",
                        help="known stature of the people in view, metres: the lifted skeletons are rescaled to it "
                             "(lifter_node's person_height_m; default 0, unknown)")
    stages.add_argument("--camera-pitch-deg", type=float, metavar="DEG",
                        help="the camera's downward pitch (0 = level): lifters with the gravity input get the up "
                        "direction (default: unknown)")
    stages.add_argument("--camera-roll-deg", type=float, metavar="DEG",
                        help="the camera's roll about its optical axis, positive with its right side down (default 0; "
                        "used with --camera-pitch-deg)")
    stages.add_argument("--lifter-weights", type=Path, metavar="FILE",
                        help="lifter .safetensors (default: the shipped one)")
    stages.add_argument("--refiner-weights", type=Path, metavar="FILE",
                        help="temporal .safetensors for the --refine mode (default: the shipped one)")

    output = parser.add_argument_group("output")
    output.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: ./{DEFAULT_OUT}); never the input or a folder holding it")
    output.add_argument("--overwrite", action="store_true",
                        help="remove an earlier run's files from DIR first (only the files pose3d writes); without "
                             "it a folder holding them is refused")
    output.add_argument("--render", action="store_true", help="also write DIR/render.mp4 (2D overlay | 3D view)")
    output.add_argument("--show", action="store_true",
                        help="show the rendered frames live in a window (q or Esc stops); needs a display")
    output.add_argument("--write-images", action="store_true",
                        help="also record the images (JPEG CompressedImage) in pose3d.mcap")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    output.add_argument("--safety", type=Path, metavar="YAML",
                        help="worker-safety monitoring (docs/safety.md): distances and states per monitored object "
                             "of this config, with its static transforms, into the MCAP (/safety/states), "
                             "skeletons.npz (safety_*), the rendered video and the summary")


    bench = add_command("bench pipeline", run_bench,
                        "frames per second and latency of pose3d run (one stage after the other, and overlapped) "
                        "beside its 2D model and 2D stage alone, on the same frames of the demo with 1, 2, 4 people")
    bench.add_argument("--people", type=int, nargs="+", default=[1, 2, 4], metavar="N", help="demo casts (1-4)")
    bench.add_argument("--frames", type=_positive_int, default=60, help="frames per run (default 60: 4 s)")
    bench.add_argument("--rounds", type=_positive_int, default=3, help="runs of every variant, interleaved")
    bench.add_argument("--params-file", type=Path, metavar="YAML", help="the nodes' parameters (as pose3d run)")
    bench.add_argument("--2d-threads", dest="threads", type=_positive_int, nargs="+", metavar="N",
                       help="movenet: overlapped runs with the 2D stage on N threads (movenet.num_threads), one per N "
                            "(default: the parameters' own)")
    bench.add_argument("--compare", type=Path, nargs="+", metavar="YAML",
                       help="also an overlapped run with each of these parameter files (their own models, e.g. "
                            "lifter_node: {flip_test: false}), named after the file")
    bench.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")

    writer = add_command("bench writer", run_writer_bench,
                         "time pose3d run's writing (messages and MCAP) alone, replaying the rows of a skeletons.npz")
    writer.add_argument("npz", type=Path, help="a skeletons.npz written by pose3d run (e.g. --source demo:1)")
    writer.add_argument("--rounds", type=_positive_int, default=5, help="replays (default 5); the median is shown")
    writer.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")

    npz = add_command("bench npz", run_npz_bench,
                      "peak memory and time of writing skeletons.npz at the end of a long run, on synthetic records")
    npz.add_argument("--frames", type=_positive_int, default=20000, help="frames (default 20000)")
    npz.add_argument("--people", type=_positive_int, default=4, help="people in every frame (default 4)")
    npz.add_argument("--safety-objects", type=int, default=0, metavar="O",
                     help="safety reports of O monitored objects in every frame (default 0: none)")
    npz.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")

    ros = add_command("bench ros", run_ros_bench,
                      "CPU use of each node and the 2D stage's drops under ROS 2: pipeline.launch.py on a looped video "
                      "at each input rate (needs a sourced ROS 2 workspace with pose3d_ros built)")
    ros.add_argument("--source", type=Path, required=True, help="a video file, played in a loop")
    ros.add_argument("--rates", type=float, nargs="+", default=[5.0, 10.0, 15.0, 20.0, 30.0], metavar="HZ",
                     help="input frame rates (video_source_node fps), one launch each (default 5 10 15 20 30)")
    ros.add_argument("--warmup", type=float, default=10.0, metavar="S",
                     help="seconds after every stage has published, before the window (default 10)")
    ros.add_argument("--window", type=float, default=20.0, metavar="S", help="seconds measured per rate (default 20)")
    ros.add_argument("--params-file", type=Path, metavar="YAML",
                     help="the nodes' parameters (default: the installed package's config/pipeline.yaml)")
    ros.add_argument("--logs", type=Path, metavar="DIR", help="keep each launch's output here")
    ros.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")

    soak = add_command("bench soak", run_soak_command,
                       "many frames through the whole pipeline at full speed (the demo in a loop, with stamps that "
                       "jump back and repeat, and unreadable frames): resident memory and queue lengths every 1000 "
                       "frames, and every input frame accounted for; exit 1 when a target is missed")
    soak.add_argument("--frames", type=_positive_int, default=20000, help="input frames (default 20000)")
    soak.add_argument("--people", type=int, default=4, choices=(2, 3, 4), help="demo cast (default 4)")
    soak.add_argument("--warmup", type=_positive_int, default=None, metavar="N",
                      help="frames before the memory reference (default 2000)")
    soak.add_argument("--every", type=_positive_int, default=None, metavar="N",
                      help="frames between samples (default 1000)")
    soak.add_argument("--params-file", type=Path, metavar="YAML", help="the nodes' parameters (as pose3d run)")
    soak.add_argument("--json", type=Path, metavar="OUT", help="also write the report to this JSON file")
    soak.add_argument("--plot", type=Path, metavar="PNG", help="also draw the memory and queues against frames")


def run_ros_bench(args: argparse.Namespace) -> int:
    from pose3d_ros.graph_bench import DiagnosticsWindow, SweepSettings, report_lines, run_sweep

    try:
        from ament_index_python.packages import get_package_share_directory

        from pose3d_ros.ros.diagnostics_probe import diagnostics_probe
        share = Path(get_package_share_directory("pose3d_ros"))
    except (ImportError, LookupError) as err:  # LookupError: ament's PackageNotFoundError
        LOG.error("pose3d bench ros needs ROS 2 and the pose3d_ros package built in a sourced workspace (%s); "
                  "source its install/setup.bash first", err)
        return 2
    if not args.source.is_file():
        raise FileNotFoundError(f"--source {args.source} is not a file")
    settings = SweepSettings(args.source.resolve(), tuple(args.rates), args.warmup, args.window,
                             params_file=(args.params_file or share / "config" / "pipeline.yaml").resolve(),
                             log_dir=args.logs)
    window = DiagnosticsWindow()
    with diagnostics_probe(window) as spin:
        report = run_sweep(settings, window, spin)
    print("\n".join(report_lines(report)))
    write_json_report(args.json, report)
    return 0


def run_writer_bench(args: argparse.Namespace) -> int:
    from .writer_bench import run_writer_benchmark, writer_report_lines

    report = run_writer_benchmark(args.npz, args.rounds)
    print("\n".join(writer_report_lines(report)))
    write_json_report(args.json, report)
    return 0


def run_npz_bench(args: argparse.Namespace) -> int:
    from .npz_bench import npz_report_lines, run_npz_benchmark

    report = run_npz_benchmark(args.frames, args.people, args.safety_objects)
    print("\n".join(npz_report_lines(report)))
    write_json_report(args.json, report)
    return 0


def run_soak_command(args: argparse.Namespace) -> int:
    import json

    from .core import PipelineSettings, PosePipeline
    from .soak import SAMPLE_EVERY, WARMUP_FRAMES, SoakSource, plot_memory, report_lines, run_soak, soak_ok

    settings = (PipelineSettings.defaults() if args.params_file is None
                else PipelineSettings.from_params_file(args.params_file))
    every = args.every or SAMPLE_EVERY
    warmup = WARMUP_FRAMES if args.warmup is None else args.warmup
    if args.frames < warmup + every:
        raise ValueError(f"--frames {args.frames} leaves no memory sample after the {warmup}-frame warm-up; give at "
                         f"least {warmup + every} (or a smaller --warmup / --every)")
    print(f"pose3d bench soak: {args.frames} frames, a sample every {every}", flush=True)
    source = SoakSource(args.frames, people=args.people)

    def save_samples(samples: list[dict]) -> None:  # until the report replaces them
        args.json.write_text(json.dumps({"source": source.description, "complete": False, "samples": samples}))

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    with PosePipeline(settings) as pipeline:
        report = run_soak(pipeline, source, warmup=warmup, every=every, print_samples=True,
                          on_sample=None if args.json is None else save_samples)
    print("\n".join(report_lines(report)))
    write_json_report(args.json, {**report, "complete": True})
    if args.plot is not None:
        plot_memory(report, args.plot)
        print(f"wrote {args.plot}")
    if report["run"]["stopped_by"] is not None:  # SIGINT / SIGTERM: the frames up to then, reported; 130 / 143
        return report["run"]["exit_code"]
    return 0 if soak_ok(report) else 1


def run_bench(args: argparse.Namespace) -> int:
    from .bench import report_lines, run_benchmark
    from .core import PipelineSettings

    settings = (PipelineSettings.defaults() if args.params_file is None
                else PipelineSettings.from_params_file(args.params_file))
    alternatives = {path.stem: PipelineSettings.from_params_file(path) for path in args.compare or ()}
    if len(alternatives) != len(args.compare or ()):
        raise ValueError("--compare needs parameter files of different names (each variant is named after its file)")
    report = run_benchmark(settings, args.people, args.frames, args.rounds, args.threads, alternatives)
    print("\n".join(report_lines(report)))
    write_json_report(args.json, report)
    return 0



def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def refine_mode(choice: str, live: bool, safety: bool = False) -> str:
    """``--refine``'s mode for a source: ``auto`` is offline for what is recorded (nothing waits for the output, and
    the whole sequence is there to look both ways in), streaming for a live camera and for a safety run (it replays
    what the live monitor would have decided, which has no future frames to look at).
    """
    if choice == "auto":
        return "streaming" if live or safety else "offline"
    return choice


def settings_from_args(args: argparse.Namespace):
    """The nodes' parameters: defaults, then --params-file, then the flags that were given (the temporal stage's
    mode is :func:`with_refinement`'s, once the source is open).
    """
    from .core import PipelineSettings

    settings = (PipelineSettings.defaults() if args.params_file is None
                else PipelineSettings.from_params_file(args.params_file))
    flags = {
        "keypoints2d": {"backend": args.backend, "model_complexity": args.model_complexity,
                        "model_dir": None if args.model_dir is None else str(args.model_dir),
                        "max_people": args.max_people},
        "lifter": {"device": args.device, "weights": None if args.lifter_weights is None else str(args.lifter_weights),
                   "person_height_m": args.person_height, "depth_max_offset_s": args.depth_max_offset,
                   "camera_pitch_deg": args.camera_pitch_deg, "camera_roll_deg": args.camera_roll_deg},
        "temporal": {"device": args.device,
                     "weights": None if args.refiner_weights is None else str(args.refiner_weights)},
    }
    for stage, values in flags.items():
        settings = settings.replace(stage, **{name: value for name, value in values.items() if value is not None})
    return settings


def with_refinement(settings, args: argparse.Namespace, live: bool):
    """``settings`` with the temporal stage ``--refine`` says for a source that is ``live`` or not."""
    mode = refine_mode(args.refine, live, safety=args.safety is not None)
    if mode == "none":
        return settings.without_temporal()
    return settings.with_offline_refinement() if mode == "offline" else settings


def run_command(args: argparse.Namespace) -> int:
    """The exit codes are RunSummary.exit_code's (pipeline/run.py): 0 clean, 1 frames lost, 130/143 signals."""
    from .core import PosePipeline
    from .outputs import check_output_dir
    from .run import run
    from .sources import IntrinsicsOverride, open_source

    safety = None
    if args.safety is not None:  # refused before anything is opened or written
        from pose3d_ros.safety import SafetyConfig

        safety = SafetyConfig.load(args.safety)
        safety.static_poses()
    intrinsics = IntrinsicsOverride(args.fx, args.fy, args.cx, args.cy)
    if args.source is None:
        LOG.info("no --source given: using webcam 0 (give --source VIDEO|BAG|demo for a file)")
    settings = settings_from_args(args)
    depth_topic = "" if args.no_depth else args.depth_topic
    with open_source(args.source, image_topic=args.image_topic, camera_info_topic=args.camera_info_topic,
                     intrinsics=intrinsics, depth_topic=depth_topic,
                     depth_max_offset_s=settings.lifter["depth_max_offset_s"]) as source:
        # before the models load: a refused output folder is known at once
        check_output_dir(args.out, [source.path] if source.path is not None else [], args.overwrite)
        with PosePipeline(with_refinement(settings, args, source.live)) as pipeline:
            summary = run(source, pipeline, args.out, max_frames=args.max_frames, render=args.render,
                          show=args.show, write_images=args.write_images, progress=not args.no_progress,
                          safety=safety, overwrite=args.overwrite)
    print(summary.text())
    if summary.frames == 0 and summary.stopped_by is None:
        if summary.failed:
            LOG.error("every frame read from %s was refused by a stage (the warnings above say why)", summary.source)
        else:
            LOG.error("no frame could be read from %s", summary.source)
    elif summary.lost or summary.ended_early:
        LOG.warning("%d frames of %s are not in the outputs (listed above and in summary.json)", summary.lost,
                    summary.source)
    return summary.exit_code()


def _register_refine(add_command) -> None:
    from pose3d_ros.temporal import DEFAULT_OFFLINE_MAX_GAP_S

    p = add_command("refine", refine_command, "refine the raw skeletons of a skeletons.npz or an MCAP / rosbag2 "
                    "recording offline (centred windows, gaps filled from both sides), without the 2D stage and "
                    "the lifter")
    p.add_argument("input", metavar="IN", type=Path,
                   help="skeletons.npz (from pose3d run) or .mcap file / rosbag2 folder")
    p.add_argument("output", metavar="OUT", type=Path,
                   help="FILE.npz for an npz, a folder (OUT/pose3d.mcap) for a recording")
    p.add_argument("--topic", default="/skeletons3d", help="recordings: the Skeleton3DArray topic (default "
                   "/skeletons3d)")
    p.add_argument("--weights", type=Path, default=None, help="offline temporal weights (default: the shipped ones)")
    p.add_argument("--max-gap-s", type=float, default=DEFAULT_OFFLINE_MAX_GAP_S,
                   help="seconds, the longest gap filled (longer ones are MISSING)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def refine_command(args: argparse.Namespace) -> int:
    from .refine import refine_command as run_refine

    return run_refine(args)
