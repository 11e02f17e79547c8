"""Checking a photo for enrollment, Qt-free: readable? a face? one person? how good?

The enrollment dialog runs `check_photo` for each imported file (off the GUI thread) and
shows the result per photo; nothing is written to the gallery here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kiosk.capture.images import IMAGE_SUFFIXES, load_rgb
from kiosk.enrollment.gates import Gate, GateConfig, GateResult, Pose, check_face
from kiosk.enrollment.samples import the_person
from kiosk.errors import KioskError
from kiosk.vision.pipeline import FacePipeline
from kiosk.vision.quality import quality_score
from kiosk.vision.types import FaceAnalysis

# More faces than this in one photo is a group photo: offering a pick among 30 faces helps nobody.
MAX_FACES = 6


@dataclass(frozen=True)
class PhotoCheck:
    """What one photo offers for enrollment."""

    path: Path
    faces: tuple[FaceAnalysis, ...] = ()  # largest first
    chosen: int | None = None  # the face to enroll (None: none found, or a pick is needed)
    error: str = ""  # unreadable, no face ... ('' when a face was found)
    size: tuple[int, int] = (0, 0)  # (w, h) of the photo
    warnings: tuple[GateResult, ...] = field(default_factory=tuple)  # quality gates the chosen face fails

    @property
    def needs_pick(self) -> bool:
        """Several people of similar size: the operator must pick one."""
        return not self.error and self.chosen is None and len(self.faces) > 1

    @property
    def face(self) -> FaceAnalysis | None:
        """The chosen face, if any."""
        return self.faces[self.chosen] if self.chosen is not None else None

    @property
    def usable(self) -> bool:
        """A face is chosen and can become a sample."""
        return self.face is not None

    def pick(self, index: int, gates: GateConfig | None = None) -> PhotoCheck:
        """The same photo with face `index` chosen by the operator."""
        if not 0 <= index < len(self.faces):
            raise IndexError(f"no face {index} in {self.path.name}")
        return PhotoCheck(self.path, self.faces, index, "", self.size,
                          photo_warnings(self.faces[index], self.size, gates))

    def summary(self) -> str:
        """One line for the photo list."""
        if self.error:
            return self.error
        if self.needs_pick:
            return f"{len(self.faces)} people in this photo - click the face to enroll, or remove the photo"
        face = self.face
        assert face is not None
        text = f"face found, quality {quality_score(face):.2f}"
        if face.masked:
            text += ", masked"
        if self.warnings:
            text += " - " + "; ".join(w.reason for w in self.warnings)
        return text


def photo_warnings(face: FaceAnalysis, size: tuple[int, int], gates: GateConfig | None = None) -> tuple[GateResult, ...]:
    """The capture gates a photo's face fails (shown as warnings: a photo is taken as it is).

    "In frame" is left out: a cropped ID photo may touch its edges and still align well.
    """
    results = check_face(face, size, gates, Pose.FRONTAL, allow_mask=True)
    return tuple(r for r in results if not r.passed and r.gate is not Gate.IN_FRAME)


def check_photo(pipeline: FacePipeline, path: str | Path, gates: GateConfig | None = None) -> PhotoCheck:
    """Read a photo and find the face to enroll; problems come back as `error`, never raised.

    One face (or one clearly more prominent than the rest: `kiosk.enrollment.samples.the_person`)
    is chosen; several of similar prominence need a pick.
    """
    path = Path(path)
    cfg = gates or GateConfig()
    try:
        rgb = load_rgb(path)
    except KioskError as exc:
        return PhotoCheck(path, error=f"cannot read this file: {_without_path(str(exc), path)}")
    size = (int(rgb.shape[1]), int(rgb.shape[0]))
    frame = pipeline.analyze_frame(rgb, max_faces=MAX_FACES)
    faces = tuple(frame.faces)
    if not faces:
        error = f"the face in this photo is {frame.rejected[0].reason.removeprefix('face ')}" if frame.rejected \
            else "no face found in this photo"
        return PhotoCheck(path, error=error, size=size)
    person = the_person(faces, rgb.shape, cfg.second_face_area)
    if person is None:
        return PhotoCheck(path, faces, None, "", size)
    return PhotoCheck(path, faces, faces.index(person), "", size, photo_warnings(person, size, cfg))


def _without_path(message: str, path: Path) -> str:
    # The list already shows the file name; the error's own copy of the path is noise.
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def image_files(paths: list[str | Path]) -> list[Path]:
    """The files among `paths`, with folders expanded to the images directly inside them."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(path)
    return out
