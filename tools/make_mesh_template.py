"""Learn the face-mesh alignment template: where each mesh point sits in the 112x112 ArcFace crop.

For every clean photo of the lfw-dev people outside eval's sets (`split_dev_people`, the NAP
people), the pipeline's own detector and face mesh find the landmarks; the mesh's eye centres,
nose tip and mouth corners are aligned to ARCFACE_112 (the 5-point geometry the embedders were
trained on) and all 478 points are mapped with that transform. The per-point median is the
template (`resources/models/face_mesh_template.npy`, loaded by kiosk.vision.align).

    python tools/make_mesh_template.py [--data ../shared/data] [--out resources/models/face_mesh_template.npy]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kiosk.capture.images import load_rgb
from kiosk.diagnostics.eval_data import default_data_dir, person_photos, split_dev_people
from kiosk.vision.align import ARCFACE_112, similarity_transform
from kiosk.vision.detectors import create_detector
from kiosk.vision.landmarks import FaceMesh

MIN_FACE_PROB = 0.5  # only faces the mesh is sure of shape the template


def main() -> None:
    """Write the template."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--out", default="resources/models/face_mesh_template.npy")
    args = parser.parse_args()
    lfw = Path(args.data) / "lfw-dev"
    _, people = split_dev_people(lfw)
    detector, mesh = create_detector("mediapipe", still=True), FaceMesh()
    mapped = []
    for name in people:
        for rel in person_photos(lfw, name):
            rgb = load_rgb(lfw / "images" / rel)
            found = detector.detect(rgb)
            if not len(found):
                continue
            areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
            i = int(np.argmax(areas))
            result = mesh.landmarks(rgb, found.xyxy[i], found.keypoints[i][:2])
            if result.face_prob < MIN_FACE_PROB:
                continue
            m = similarity_transform(result.five(), ARCFACE_112)
            mapped.append(result.points[:, :2] @ m[:, :2].T + m[:, 2])
    template = np.median(np.stack(mapped), axis=0).astype(np.float32)
    np.save(args.out, template)
    print(f"{args.out}: {len(mapped)} faces; eyes {template[[468, 473]].round(1).tolist()}")


if __name__ == "__main__":
    main()
