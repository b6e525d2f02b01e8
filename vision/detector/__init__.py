"""The Swin + RT-DETR element detector: configuration, model, pre- and postprocessing."""

from vision.detector.configuration import DetectorConfig
from vision.detector.modeling import Detector

__all__ = ["Detector", "DetectorConfig"]
