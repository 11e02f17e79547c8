"""The mask flag: is the face in an aligned crop wearing a mask?

A logistic regression on a HOG of the aligned crop's lower face (a mask hides
the mouth, lip and chin edges and adds its own pleats and rim) and the lower face's colour
against the eye band. Weights: resources/models/mask_classifier.npz, trained by
tools/train_mask_classifier.py, which also measured the alternatives (see the models README).
Synthetic masks for training and eval are painted by `kiosk.vision.synthetic_masks`.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.errors import ModelError

FEATURES = "hog-lower-64x48+lab9/v2"  # stored with the weights: features and weights must agree
_HOG = cv2.HOGDescriptor((64, 48), (16, 16), (8, 8), (8, 8), 9)


def mask_features(aligned: np.ndarray) -> np.ndarray:
    """(n, 112, 112, 3) RGB uint8 -> (n, 1269) float32 features for the mask classifier."""
    aligned = np.asarray(aligned)
    if aligned.ndim == 3:
        aligned = aligned[None]
    rows = []
    for crop in aligned:
        # Rows 56-112 span nose tip to chin in ArcFace geometry (nose 72, mouth 92).
        lower = cv2.resize(crop[56:112, 8:104], (64, 48), interpolation=cv2.INTER_AREA)
        hog = np.asarray(_HOG.compute(cv2.cvtColor(lower, cv2.COLOR_RGB2GRAY))).ravel()
        lab_low = cv2.cvtColor(crop[66:112, 12:100], cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
        lab_band = cv2.cvtColor(crop[36:60, 16:96], cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
        colour = np.concatenate([
            lab_low.mean(0) / 255, lab_low.std(0) / 64, (lab_low.mean(0) - lab_band.mean(0)) / 64,
        ])
        rows.append(np.concatenate([hog, colour]))
    return np.asarray(rows, np.float32).reshape(len(aligned), -1)


class MaskClassifier:
    """P(masked) for aligned crops; `threshold` turns it into a flag."""

    FILENAME = "mask_classifier.npz"

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float,
                 threshold: float = 0.5, features: str = FEATURES) -> None:
        if features != FEATURES:
            raise ModelError(f"mask classifier weights are for features {features!r}, "
                             f"this version computes {FEATURES!r} (retrain or reinstall)")
        if not (mean.shape == scale.shape == coef.shape and mean.ndim == 1):
            raise ModelError(f"mask classifier weights have mismatched shapes {mean.shape}, "
                             f"{scale.shape}, {coef.shape}")
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, float(intercept)
        self.threshold = float(threshold)

    @classmethod
    def load(cls, path: str | None = None) -> MaskClassifier:
        """Load the vendored weights (sha256-checked like every model), or those at `path`."""
        from kiosk.models import verified_model_path

        file = path or verified_model_path("mask")
        with np.load(file) as data:
            features = str(data["features"]) if "features" in data else "hog-lower-64x32+lab9/v1"
            return cls(data["mean"], data["scale"], data["coef"], float(data["intercept"]),
                       float(data["threshold"]), features)

    def save(self, path: str) -> None:
        """Write the weights (used by the training script)."""
        np.savez(path, mean=self.mean, scale=self.scale, coef=self.coef,
                 intercept=np.float32(self.intercept), threshold=np.float32(self.threshold),
                 features=np.array(FEATURES))

    def decision(self, aligned: np.ndarray) -> np.ndarray:
        """(n,) logits (log-odds of a mask)."""
        x = (mask_features(aligned) - self.mean) / self.scale
        logits: np.ndarray = (x @ self.coef + self.intercept).astype(np.float32)
        return logits

    def predict(self, aligned: np.ndarray) -> np.ndarray:
        """(n,) probabilities that each crop shows a masked face."""
        if len(aligned) == 0:
            return np.zeros(0, np.float32)
        z = self.decision(aligned).astype(np.float64)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
