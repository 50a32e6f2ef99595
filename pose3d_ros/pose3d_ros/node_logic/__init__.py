"""What the ROS nodes decide, without ROS, one subject per module: parameters, launch_config, qos,
core_logs, processing, diagnostics, camera_info, camera_attitude, camera_frames, depth_input, rep155 and
temporal_frames.

``pose3d_ros.ros`` only turns messages into arrays, calls these and the models, and publishes.
"""
