"""The whole pipeline in one process, without ROS: frame sources, the composed stages, MCAP output, rendering.

``pose3d run`` drives it (see docs/pipeline.md).
"""
