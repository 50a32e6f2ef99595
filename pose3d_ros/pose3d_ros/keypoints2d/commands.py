"""`pose3d keypoints` (2D keypoints of image files), `pose3d eval keypoints2d` (accuracy on hand-annotated images of
several people), `pose3d bench keypoints2d` (speed of the 2D stage) and `pose3d bench tracking` (person-id errors
of the trackers on synthetic scenes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from pose3d_ros.cli import write_json_report

log = logging.getLogger("pose3d.keypoints2d")

# The shared development video, found the way the test fixtures find it (../shared/data next to the checkout).
_SHARED_DATA = Path(os.environ.get("POSE3D_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data"))
SHARED_VIDEO = _SHARED_DATA / "video" / "mmpose_demo.mp4"
PART_SLICES = {"body": slice(0, 23), "face": slice(23, 91), "left hand": slice(91, 112), "right hand": slice(112, 133)}


def register(add_command) -> None:
    parser = add_command("keypoints", run_keypoints, "2D whole-body keypoints (COCO-WholeBody 133) of image files")
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (anything OpenCV reads)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every person's keypoints to this JSON file")
    parser.add_argument("--draw", type=Path, metavar="DIR",
                        help="write each image with its keypoints drawn into DIR as <stem>_keypoints.png (images "
                             "that share a stem: <name.ext>_keypoints.png)")
    _add_backend_arguments(parser, still_images=True)

    parser = add_command("eval keypoints2d", run_eval,
                         "people found and PCK@0.2 per part on hand-annotated images of several people")
    parser.add_argument("--annotations", type=Path, required=True, metavar="FILE",
                        help="annotation JSON (e.g. pose3d_ros/test/data/multiperson_annotations.json)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")
    _add_backend_arguments(parser, still_images=True)

    parser = add_command("bench keypoints2d", run_bench,
                         "ms per frame of the 2D stage (its models alone and the whole stage), on a video or on the "
                         "synthetic demo with 1, 2, 4 people")
    parser.add_argument("--video", type=Path, help=f"video to run on (default: {SHARED_VIDEO}, unless --people)")
    parser.add_argument("--people", type=int, nargs="+", metavar="N",
                        help="run on the synthetic demo with N people instead of a video (1-4; e.g. --people 1 2 4), "
                             "frames cropped to 4:3 and scaled to --size, one run per N side by side")
    parser.add_argument("--size", default="640x480", metavar="WxH", help="--people: frame size (default 640x480)")
    parser.add_argument("--frames", type=int, default=100, help="frames to time; the input is replayed if shorter")
    parser.add_argument("--warmup", type=int, default=5, help="frames run before timing starts")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")
    _add_backend_arguments(parser)

    parser = add_command("bench tracking", run_bench_tracking,
                         "id switches and speed of the person trackers on synthetic walking, crossing people")
    parser.add_argument("--seeds", type=int, default=3, help="scenes per frame rate (seeds 0..N-1)")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds per scene")
    parser.add_argument("--max-lost-s", type=float, default=5.0, help="how long every tracker keeps a lost person")
    parser.add_argument("--demo", action="store_true",
                        help="instead of the synthetic scenes, run MoveNet MultiPose on the four-person demo once "
                             "and every tracker on its detections, scored against the demo's truth")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers to this JSON file")


STILL_IMAGE_INPUT_SIZE = 384
"""movenet's input size for single pictures: larger than a stream's 256, since a picture's time matters less than
finding its smaller people (annotated set: 20 of 21 people found at 384, 19 at 256)."""


def _add_backend_arguments(parser: argparse.ArgumentParser, still_images: bool = False) -> None:
    parser.add_argument("--backend", choices=("movenet", "holistic", "tasks"), default="movenet",
                        help="movenet (several people; the default), holistic (one person) or tasks (several "
                             "people, needs .task model files)")
    parser.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=1,
                        help="holistic: pose model size (only 1 is bundled with mediapipe)")
    parser.add_argument("--model-dir", type=Path, help="tasks: directory holding the .task model files")
    parser.add_argument("--max-people", type=int, default=6, help="movenet (1-6), tasks: most people per image")
    input_size = STILL_IMAGE_INPUT_SIZE if still_images else 256
    parser.add_argument("--input-size", type=int, default=input_size,
                        help=f"movenet: MoveNet's input, longer side in pixels, a multiple of 32 (default {input_size}"
                             f"{'; streams use 256' if still_images else ''})")


def _detector_options(args: argparse.Namespace, static_image_mode: bool) -> dict:
    """keypoints2d_node's defaults with the flags given, mapped as the node maps them."""
    from pose3d_ros.keypoints2d.detector import detector_options
    from pose3d_ros.node_logic.parameters import parameter_defaults

    params = parameter_defaults("keypoints2d_node")
    params.update({"backend": args.backend, "model_complexity": args.model_complexity, "max_people": args.max_people,
                   "model_dir": "" if args.model_dir is None else str(args.model_dir),
                   "movenet.input_size": args.input_size})
    return {**detector_options(params)[1], "static_image_mode": static_image_mode}


def _summary(result) -> list[str]:
    lines = []
    for person_id, conf in zip(result.person_ids, result.conf, strict=True):
        parts = ", ".join(f"{name} {int((conf[part] > 0).sum())}/{part.stop - part.start}"
                          for name, part in PART_SLICES.items())
        lines.append(f"  person {person_id}: {parts} keypoints detected")
    return lines


def _read_image(path: Path):
    """Colour (EXIF orientation applied) at the file's bit depth; ValueError when it cannot be read."""
    import cv2

    if path.is_dir():
        raise ValueError("is a folder, not an image")
    if not path.is_file():
        raise ValueError("no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise ValueError("not an image OpenCV can read")
    return image


def drawing_names(paths: list[Path]) -> list[str]:
    """A distinct file name for each image's drawing: ``<stem>_keypoints.png``; where images share a stem,
    ``<name with extension>_keypoints.png`` (a.jpg_keypoints.png, a.png_keypoints.png); where they share even that
    (one name in two folders, or an image given twice), those are numbered in command-line order (_2, _3, ...).
    """
    def name(path: Path) -> str:
        return f"{path.stem}_keypoints.png" if stems.count(path.stem) == 1 else f"{path.name}_keypoints.png"

    stems = [path.stem for path in paths]
    names = [name(path) for path in paths]
    seen: dict[str, int] = {}
    distinct = []
    for candidate in names:
        seen[candidate] = seen.get(candidate, 0) + 1
        if names.count(candidate) > 1 and seen[candidate] > 1:
            candidate = candidate.replace("_keypoints.png", f"_keypoints_{seen[candidate]}.png")
        distinct.append(candidate)
    return distinct


def run_keypoints(args: argparse.Namespace) -> int:
    """Exit code 0 if every image was processed, 1 if some could not be read, 2 if none could."""
    import cv2

    from pose3d_ros.keypoints2d import create_detector, draw_keypoints

    if args.draw is not None:
        args.draw.mkdir(parents=True, exist_ok=True)
    images, skipped = [], []
    with create_detector(args.backend, **_detector_options(args, static_image_mode=True)) as detector:
        for path, drawing_name in zip(args.images, drawing_names(args.images), strict=True):
            try:
                image = _read_image(path)
                result = detector(image)
            except ValueError as err:
                log.error("skipping %s: %s", path, err)
                skipped.append({"path": str(path), "error": str(err)})
                continue
            print(f"{path}: {len(result)} person(s), {result.image_size[0]}x{result.image_size[1]}")
            print("\n".join(_summary(result)))
            images.append({"path": str(path), **result.to_dict()})
            if args.draw is not None:
                drawing = args.draw / drawing_name
                cv2.imwrite(str(drawing), draw_keypoints(image, result))
                images[-1]["drawing"] = str(drawing)
                print(f"  drawn to {drawing}")
    write_json_report(args.json, {"backend": args.backend, "images": images, "skipped": skipped})
    print(f"{len(images)} image(s) processed, {len(skipped)} skipped")
    return 0 if not skipped else 1 if images else 2


def _format_counts(counts: dict) -> str:
    person_box = counts["pck_person_box"]
    part_box = counts["pck_part_box"]

    def pck(entry: dict) -> str:
        return "  -  " if entry["pck"] is None else f"{entry['pck']:.3f}"

    return (f"found {counts['people_found']}/{counts['people_annotated']}  PCK@0.2 body {pck(person_box['body'])} "
            f"feet {pck(person_box['feet'])} face {pck(person_box['face'])} hands {pck(person_box['hands'])}  "
            f"(part box: face {pck(part_box['face'])} hands {pck(part_box['hands'])})")


def run_eval(args: argparse.Namespace) -> int:
    """Exit code 0 if every annotated image was evaluated, 1 if some (the video's frames) had to be skipped."""
    from pose3d_ros.keypoints2d import create_detector
    from pose3d_ros.keypoints2d.annotations import load_annotations, rebuild_image
    from pose3d_ros.keypoints2d.evaluation import Counts, score_image

    images = load_annotations(args.annotations)
    per_image, skipped, total = [], [], Counts()
    with create_detector(args.backend, **_detector_options(args, static_image_mode=True)) as detector:
        for image in images:
            try:
                frame = rebuild_image(image, _SHARED_DATA)
            except FileNotFoundError as err:
                log.error("skipping %s: %s", image.id, err)
                skipped.append({"image": image.id, "error": str(err)})
                continue
            result = detector(frame)
            counts = score_image(image.people, result.kp2d, result.conf)
            total = total + counts
            per_image.append({"image": image.id, "people_detected": len(result), **counts.to_dict()})
            print(f"{image.id:28s} {_format_counts(per_image[-1])}")
    if not per_image:
        raise FileNotFoundError(f"no annotated image could be rebuilt: {skipped[0]['error']}")
    if skipped:
        log.warning("skipped %d video frame(s) whose video is missing; the overall numbers are for the other "
                    "%d image(s)", len(skipped), len(per_image))
    report = {"backend": args.backend, "annotations": str(args.annotations), "overall": total.to_dict(),
              "images": per_image, "skipped": skipped}
    print(f"{'overall':28s} {_format_counts(report['overall'])}")
    write_json_report(args.json, report)
    return 1 if skipped else 0


def _frames(video: Path, count: int):
    """``count`` frames of ``video``, replaying it from the start when it runs out."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {video}")
    try:
        produced = 0
        while produced < count:
            ok, frame = capture.read()
            if not ok:
                if produced == 0:
                    raise ValueError(f"no frames could be read from {video}")
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            produced += 1
            yield frame
    finally:
        capture.release()


def _demo_frames(people: int, size: tuple[int, int], count: int):
    """``count`` frames of the synthetic demo with ``people`` people, the middle 4:3 of each scaled to ``size``,
    replayed from the start when the clip runs out; with the stream time of each frame.
    """
    import cv2

    from pose3d_ros.pipeline.demo import DemoSource

    source = DemoSource(people=people)
    produced = 0
    while produced < count:
        for frame in source:
            height, width = frame.image.shape[:2]
            crop = min(width, height * 4 // 3)
            left = (width - crop) // 2
            yield cv2.resize(frame.image[:, left:left + crop], size, interpolation=cv2.INTER_AREA)
            produced += 1
            if produced == count:
                return



def _time_stage(detector, frames, warmup: int, fps: float) -> dict:
    """Time every call after ``warmup``: the whole stage, the backend's models, and its people model alone."""
    from pose3d_ros.inference import latency_percentiles

    models_ms, stage_ms, people_ms, people = [], [], [], []
    for index, frame in enumerate(frames):
        result = detector(frame, timestamp_s=index / fps)
        if index >= warmup:
            models_ms.append(1000 * detector.last_timing.models_s)
            stage_ms.append(1000 * detector.last_timing.total_s)
            people.append(len(result))
            if getattr(detector, "last_people_model_s", None) is not None:
                people_ms.append(1000 * detector.last_people_model_s)
    height, width = frame.shape[:2]
    report = {"image_size": [width, height], "mean_people": sum(people) / len(people),
              "stage_ms": latency_percentiles(stage_ms), "models_ms": latency_percentiles(models_ms)}
    if people_ms:
        report["people_model_ms"] = latency_percentiles(people_ms)
    return report


def run_bench(args: argparse.Namespace) -> int:
    """Time the 2D stage per frame in stream mode: the whole stage, the time inside its models, and (movenet) its
    people model alone, on a video or on the synthetic demo with each number of people of ``--people``.
    """
    import numpy as np

    from pose3d_ros.inference import machine_facts
    from pose3d_ros.keypoints2d import create_detector

    if args.frames < 1 or args.warmup < 0:
        raise ValueError("--frames must be at least 1 and --warmup at least 0")
    if args.people is not None:
        try:
            size = tuple(int(v) for v in args.size.lower().split("x"))
        except ValueError:
            size = ()
        if len(size) != 2 or min(size) < 32:
            raise ValueError(f"--size must be WIDTHxHEIGHT of at least 32 x 32, got {args.size!r}")
        inputs = {f"demo, {n} {'person' if n == 1 else 'people'}": (lambda n=n: _demo_frames(
            n, size, args.warmup + args.frames), 15.0) for n in args.people}
    else:
        video = args.video or SHARED_VIDEO
        if not video.is_file():
            raise FileNotFoundError(f"video {video} not found; give one with --video PATH")
        inputs = {video.name: (lambda: _frames(video, args.warmup + args.frames), 30.0)}
    runs = {}
    for name, (frames, fps) in inputs.items():  # a fresh detector per input: nothing tracked carries over
        with create_detector(args.backend, **_detector_options(args, static_image_mode=False)) as detector:
            runs[name] = _time_stage(detector, frames(), args.warmup, fps)
    report = {"backend": args.backend, "frames": args.frames, "warmup": args.warmup, "runs": runs,
              "machine": machine_facts()}
    if args.backend == "holistic":
        report["model_complexity"] = args.model_complexity
    report = json.loads(json.dumps(report, default=float))
    print(f"2D stage ({args.backend}), {args.frames} frames after {args.warmup} warm-up, stream mode; ms per frame "
          f"p50 / p95")
    for name, run in report["runs"].items():
        width, height = run["image_size"]
        people_model = (f" | people model alone {run['people_model_ms']['p50']:6.1f} / "
                        f"{run['people_model_ms']['p95']:6.1f}") if "people_model_ms" in run else ""
        print(f"  {name:<22} {width}x{height}, {run['mean_people']:.2f} people found per frame: whole stage "
              f"{run['stage_ms']['p50']:6.1f} / {run['stage_ms']['p95']:6.1f} | models {run['models_ms']['p50']:6.1f}"
              f"{people_model}")
    overhead = [run["stage_ms"]["mean"] - run["models_ms"]["mean"] for run in report["runs"].values()]
    print(f"  the stage's own overhead (conversion, mapping): {np.mean(overhead):.2f} ms per frame")
    write_json_report(args.json, report)
    return 0


def _bench_tracking_on_demo(args: argparse.Namespace) -> int:
    from pose3d_ros.keypoints2d.tracking_bench import run_demo_benchmark

    report = run_demo_benchmark(max_lost_s=args.max_lost_s)
    print(f"person tracking on MoveNet MultiPose's detections on the four-person demo ({report['frames']} frames), "
          f"lost people kept {args.max_lost_s:g} s; matched to the truth as a demo run matches them")
    print(f"  {'tracker':26s} {'found':>6s} {'switches':>8s} {'reuses':>6s} {'switches/100':>12s} "
          f"{'sw+reuses/100':>13s} {'ms/update':>9s}")
    for row in report["trackers"]:
        print(f"  {row['tracker']:26s} {row['found']:6d} {row['switches']:8d} {row['reuses']:6d} "
              f"{row['switches_per_100']:12.2f} {row['id_switches_per_100']:13.2f} {row['update_ms']:9.3f}")
    write_json_report(args.json, report)
    return 0


def run_bench_tracking(args: argparse.Namespace) -> int:
    """Every tracker on the same synthetic scenes at 15 fps, 30 fps and an irregular rate."""
    from pose3d_ros.keypoints2d.tracking_bench import run_benchmark

    if args.seeds < 1 or args.duration <= 0 or args.max_lost_s < 0:
        raise ValueError("--seeds must be at least 1, --duration positive and --max-lost-s at least 0")
    if args.demo:
        return _bench_tracking_on_demo(args)
    report = run_benchmark(seeds=args.seeds, duration_s=args.duration, max_lost_s=args.max_lost_s)
    print(f"person tracking on {args.seeds} synthetic scene(s) x 3 frame rates, {args.duration:g} s each, "
          f"lost people kept {args.max_lost_s:g} s; rates per 100 person-frames")
    print(f"  {'tracker':26s} {'rate':9s} {'id sw/100':>9s} {'switches':>8s} {'reuses':>6s} {'frags':>5s} "
          f"{'false ids':>9s} {'no id/100':>9s} {'ms/update':>9s}")
    for row in report["summary"]:
        print(f"  {row['tracker']:26s} {row['rate']:9s} {row['id_switches_per_100']:9.2f} {row['person_switches']:8d} "
              f"{row['id_reuses']:6d} {row['fragments']:5d} {row['false_ids']:9d} {row['unassigned_per_100']:9.2f} "
              f"{row['update_ms']:9.3f}")
    write_json_report(args.json, report)
    return 0
