"""Face landmarks and part masks from MediaPipe FaceMesh: the evaluation-only reference for faces.

Evaluation scripts only (``pip install -r requirements-eval.txt``); the pack and its tests never
import this. FaceMesh's model ships inside the ``mediapipe==0.10.14`` wheel, so nothing is
downloaded. Images are up-sampled to 256 px before detection (FaceMesh misses most faces at
64 px); landmarks and masks are returned in the coordinates of the image given.
"""
from __future__ import annotations

import numpy as np

DETECT_SIZE = 256
# Landmark indices of FaceMesh with refine_landmarks=True (478 points).
IRIS_CENTRES = {"eye_a": 468, "eye_b": 473}     # the two iris centres (image left / right on a frontal face)
NOSE_TIP = 1
LIP_CENTRE = (13, 14)                          # upper and lower inner lip midpoints; their mean is the mouth centre
PARTS = ("eyes", "nose", "mouth")


def _require_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - evaluation set-up
        raise SystemExit("this evaluation needs MediaPipe: python3 -m pip install -r requirements-eval.txt") from exc
    return mp


def _ring(edges, start: int) -> list[int]:
    """Walk the closed loop of a FaceMesh connection set that passes through ``start``."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    ring, previous, current = [start], None, start
    while True:
        nxt = [n for n in neighbours[current] if n != previous]
        if not nxt or nxt[0] == start:
            return ring
        previous, current = current, nxt[0]
        ring.append(current)


class FaceReference:
    """FaceMesh on batches of small RGB images: landmarks and rasterised eye / nose / mouth masks."""

    def __init__(self):
        mp = _require_mediapipe()
        fm = mp.solutions.face_mesh
        self._mesh = fm.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1)
        self.eye_rings = [_ring(fm.FACEMESH_RIGHT_EYE, 33), _ring(fm.FACEMESH_LEFT_EYE, 263)]
        self.lip_ring = _ring(fm.FACEMESH_LIPS, 61)
        self.nose_points = sorted({i for edge in fm.FACEMESH_NOSE for i in edge})

    def landmarks(self, images: np.ndarray) -> np.ndarray:
        """uint8 [B, H, W, 3] -> float [B, 478, 2] (x, y) in pixels of the given size; NaN where no face."""
        from PIL import Image
        b, h, w, _ = images.shape
        out = np.full((b, 478, 2), np.nan, dtype=np.float64)
        for i in range(b):
            big = np.asarray(Image.fromarray(images[i]).resize((DETECT_SIZE, DETECT_SIZE), Image.BICUBIC))
            result = self._mesh.process(np.ascontiguousarray(big))
            if not result.multi_face_landmarks:
                continue
            pts = result.multi_face_landmarks[0].landmark
            out[i] = [(p.x * w, p.y * h) for p in pts]
        return out

    def part_centres(self, lm: np.ndarray) -> dict[str, np.ndarray]:
        """[B, 478, 2] -> part name -> [B, 2]: the two iris centres, the nose tip, the lip centre."""
        return {"eye_a": lm[:, IRIS_CENTRES["eye_a"]], "eye_b": lm[:, IRIS_CENTRES["eye_b"]],
                "nose": lm[:, NOSE_TIP], "mouth": lm[:, list(LIP_CENTRE)].mean(axis=1)}

    def part_masks(self, lm: np.ndarray, size: int, supersample: int = 4) -> dict[str, np.ndarray]:
        """[B, 478, 2] (pixels of a ``size`` image) -> part -> bool [B, size, size].

        Eyes: the two eye contours; mouth: the outer lip contour; nose: the convex hull of FaceMesh's
        nose points. Polygons are filled at ``supersample`` x the size and area-averaged (>= half)."""
        from PIL import Image, ImageDraw
        big = size * supersample
        polys = {"eyes": self.eye_rings, "mouth": [self.lip_ring], "nose": [self.nose_points]}
        out = {part: np.zeros((lm.shape[0], size, size), dtype=bool) for part in polys}
        for i in range(lm.shape[0]):
            if np.isnan(lm[i]).any():
                continue
            for part, rings in polys.items():
                canvas = Image.new("L", (big, big), 0)
                draw = ImageDraw.Draw(canvas)
                for ring in rings:
                    pts = lm[i, ring] * supersample
                    if part == "nose":
                        pts = _convex_hull(pts)
                    draw.polygon([tuple(p) for p in pts], fill=255)
                area = np.asarray(canvas, dtype=np.float32).reshape(size, supersample, size, supersample).mean((1, 3))
                out[part][i] = area >= 127.5
        return out


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Monotone-chain convex hull of [N, 2] points, counter-clockwise."""
    pts = sorted(map(tuple, points))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def to_uint8(images) -> np.ndarray:
    """Generator output [B, 3, H, W] in [-1, 1] (torch) -> uint8 [B, H, W, 3]."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(dtype=__import__("torch").uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
