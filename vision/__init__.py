"""Perception: box ops, the Swin + RT-DETR element detector, OCR of element crops, the frame-diff cached
screenshot -> elements pipeline, detection datasets, training and COCO evaluation.

Entry points: `vision.perception.Perception` (``Perception.load("weights/detector")(observation)``),
`vision.detector.Detector`, `vision.ocr.OCR`, `vision.train.train`, `vision.evaluate.evaluate_folder`.
Never imports Qt, mss or pyautogui.
"""
