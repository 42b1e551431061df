"""Data, networks, training, metrics and inference for CamVid segmentation. Never imports Qt."""

__version__ = "0.1.0"
