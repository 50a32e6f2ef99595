"""The ROS 2 nodes (rclpy): message conversion and calls into the ROS-free core, nothing else.

Every decision (parameters, QoS settings, statistics, camera handling, markers, message layout checks) lives in
``pose3d_ros.node_logic``, ``pose3d_ros.messages`` and ``pose3d_ros.markers``, which are tested without ROS.
"""
