"""pose3d_ros: camera images -> 133-joint whole-body 3D skeletons (2D stage, SemGAN lifter, 3D-UGCN temporal stage).

The core (everything outside ``pose3d_ros.ros``) never imports rclpy, so it runs and is tested without ROS.
"""

__version__ = "0.1.0"
