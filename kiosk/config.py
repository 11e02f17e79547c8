"""Typed, validated configuration (a typo in a key is an error, values are bounded)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kiosk.errors import KioskError, os_reason
from kiosk.events.config import EventsConfig
from kiosk.i18n.catalog import N_, languages

# 2: the mask threshold moved from match to vision (one rule for every path); 3: vision.threads
# retired (no model takes a thread count since onnxruntime left the app)
CONFIG_VERSION = 3
APP_NAME = "face-kiosk"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: The detectors and embedders the app can run (the one list: the config, the CLI's choices and
#: the registries in kiosk.vision.detectors / kiosk.vision.pipeline all read these).
DetectorName = Literal["mediapipe", "yunet"]
EmbedderName = Literal["sface", "sface+mbf"]
DETECTOR_NAMES: tuple[str, ...] = get_args(DetectorName)
EMBEDDER_NAMES: tuple[str, ...] = get_args(EmbedderName)


class VisionConfig(_Strict):
    """Which models run, and how."""

    detector: DetectorName = Field(
        "mediapipe", description="mediapipe: BlazeFace and YuNet merged; yunet: YuNet alone (boxes; the face "
        "mesh gives the landmarks either way)"
    )
    mediapipe_model: Literal["mediapipe-full", "mediapipe-short"] = "mediapipe-full"
    embedder: EmbedderName = Field(
        "sface", description="sface is Apache-2.0; sface+mbf adds InsightFace weights (non-commercial only)"
    )
    min_face_px: int = Field(40, ge=16, le=400, description="faces narrower than this are ignored")
    mask_threshold: float | None = Field(
        None, gt=0, lt=1,
        description="mask score at or above which a face counts as masked, everywhere (live window, kiosk, "
        "CLI, enrollment, duplicate check); empty: the mask classifier's own calibrated threshold",
    )


#: The range a cosine threshold set by hand must keep: at 0 or below every stranger is named
#: (a score of -1 is the opposite face), at 1 nobody is. The settings dialog uses the same range.
THRESHOLD_MIN, THRESHOLD_MAX = 0.05, 0.95


def _threshold(description: str = "") -> float | None:
    return Field(None, ge=THRESHOLD_MIN, le=THRESHOLD_MAX, description=description)


class MatchConfig(_Strict):
    """Decision rules. None means: use the calibrated value shipped in resources/models."""

    target_fpir: float = Field(0.005, gt=0, lt=0.2, description="1:N false-positive identification rate")
    threshold_unmasked: float | None = _threshold()
    threshold_masked: float | None = _threshold()
    verify_threshold: float | None = _threshold("1:1 (verify) threshold")
    threshold_mask_vs_mask: float | None = _threshold("1:N threshold for a masked probe vs someone enrolled in a mask")
    verify_far: float = Field(1e-3, gt=0, lt=0.2, description="1:1 false-accept rate the verify threshold is set for")
    unmask_band_fpir: float = Field(
        0.2, ge=0, lt=1,
        description="masked probes below the threshold but above the one for this FPIR are asked to "
        "lower the mask (0: never ask)",
    )
    use_masked_samples: bool = Field(
        False, description="match masked visitors also against enrolment samples taken in their own "
        "mask (measured on painted masks: see docs/matching.md; off by default)",
    )
    learn_masked_samples: bool = Field(
        False, description="keep one own-mask sample from a visit whose identity was confirmed on the bare "
        "face (the visitor lowered the mask), so the next masked visit is recognised; needs "
        "use_masked_samples (docs/matching.md: the multi-visit measurement behind the default)",
    )
    learned_masked_max: int = Field(
        2, ge=1, le=10, description="learned own-mask samples kept per person: the newest replaces the oldest",
    )


class KioskConfig(_Strict):
    """Kiosk-mode behaviour. A text left at None uses the chosen language's wording."""

    cooldown_s: int = Field(600, ge=0, le=86_400, description="one visit per person per cooldown")
    greeting_s: float = Field(4.0, ge=1, le=30, description="how long a greeting stays on screen")
    lower_mask_s: float = Field(
        8.0, ge=2, le=60, description="how long to ask an uncertain masked visitor to lower the mask"
    )
    language: str = Field("en", description="the kiosk's language (a catalog in resources/i18n: docs/i18n.md)")
    languages: list[str] | None = Field(
        None, max_length=20, description="languages the kiosk's language button offers, in this order "
        "(default: every language shipped); empty: no language button")
    touch_timeout_s: float = Field(
        45.0, ge=10, le=600, description="a visitor's screens (sign-in, expected list, leaving) go back "
        "to the start after this long untouched, their entries cleared; the language goes back too")
    on_screen_keyboard: Literal["auto", "always", "never"] = Field(
        "auto", description="the kiosk's own touch keyboard: auto = unless the platform has an input "
        "method of its own (QT_IM_MODULE is set)")
    greeting_text: str | None = Field(None, max_length=200, description="{name} is replaced by the name")
    unknown_text: str | None = Field(None, max_length=200)
    attract_text: str | None = Field(None, max_length=200)
    lower_mask_text: str | None = Field(None, max_length=200)
    unavailable_text: str | None = Field(None, max_length=200)
    show_photo: bool = Field(True, description="show the enrolled photo on the greeting card")
    logo: str | None = Field(None, max_length=1000, description="image file shown on the attract screen")

    @field_validator("language")
    @classmethod
    def _language_is_shipped(cls, value: str) -> str:
        shipped = languages()
        if value not in shipped:
            raise ValueError(f"no catalog for language {value!r} (shipped: {', '.join(shipped)})")
        return value

    @field_validator("languages")
    @classmethod
    def _languages_are_shipped(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [code for code in value if code not in languages()]
            if unknown:
                raise ValueError(f"no catalog for {', '.join(unknown)} (shipped: {', '.join(languages())})")
            if len(set(value)) != len(value):
                raise ValueError("a language is listed twice")
        return value

    def offered_languages(self) -> list[str]:
        """The languages of the language button, the kiosk's own always among them."""
        offered = list(languages()) if self.languages is None else list(self.languages)
        if offered and self.language not in offered:
            offered.insert(0, self.language)
        return offered

    @field_validator("logo")
    @classmethod
    def _logo_is_a_file(cls, value: str | None) -> str | None:
        # A FIFO or a device would hang the window that reads it; a missing file shows no logo.
        if value and Path(value).exists() and not Path(value).is_file():
            raise ValueError(f"{value} is not a regular file (a folder, FIFO or device?)")
        return value
    accent_colour: str = Field("#1f6feb", pattern=r"^#[0-9a-fA-F]{6}$")
    background_colour: str = Field("#000000", pattern=r"^#[0-9a-fA-F]{6}$")
    text_colour: str = Field("#ffffff", pattern=r"^#[0-9a-fA-F]{6}$")
    receptionist_screen: int | None = Field(
        None, ge=0, le=8, description="show the visit log on this screen in kiosk mode (staff-only screen)"
    )


class PrivacyConfig(_Strict):
    """How long data is kept, and how it is stored (README: Privacy and security)."""

    visits_retention_days: int = Field(
        90, ge=1, le=3650, description="visits older than this are deleted (at start and daily)")
    encrypt: bool = Field(
        True, description="new galleries are encrypted (SQLCipher); off only where the disk is encrypted already")


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

# Marked for translation (kiosk.i18n): the kiosk shows these defaults in the visitor's language;
# a site's own text is shown as written (docs/i18n.md: translating a site's own texts).
DEFAULT_AGREEMENT = N_(
    "While on site, please wear your visitor badge, stay with your host in non-public areas and "
    "follow the instructions of staff in an emergency. Information you see here may be confidential.")
DEFAULT_PRIVACY = N_(
    "We keep your name, company, host and the times you arrive and leave to know who is in the "
    "building (for example in a fire alarm). They are deleted after {visit_days} days. Ask at the "
    "desk to see or erase them.")
DEFAULT_FACE_CONSENT = N_(
    "Recognise me next time: the kiosk keeps a few photos of my face and a face template so that it "
    "can greet me by name on my next visits. They are deleted after {face_days} days, or at once "
    "when I ask at the desk. Without this, no photo of me is kept.")


class FrontDeskConfig(_Strict):
    """The front desk (docs/front-desk.md): visitors signing in at the kiosk, invitations,
    sign-out and who is on site. The texts are shown to visitors; {visit_days} and {face_days}
    in them are replaced by the retention periods."""

    self_sign_in: bool = Field(True, description="offer 'First time here?' on the kiosk")
    agreement_version: str = Field(
        "1", min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$",
        description="version of the agreement and privacy texts; change it whenever you change them "
        "(each visitor's accepted version is stored)")
    agreement_text: str = Field(DEFAULT_AGREEMENT, min_length=1, max_length=20_000)
    privacy_text: str = Field(DEFAULT_PRIVACY, min_length=1, max_length=20_000)
    face_consent_text: str = Field(DEFAULT_FACE_CONSENT, min_length=1, max_length=5_000,
                                   description="the 'recognise me next time' consent, stored with the visitor")
    visitor_retention_days: int = Field(
        90, ge=1, le=3650, description="a visitor who consented to recognition is erased this many days "
        "after their last sign-in or invitation (face data included)")
    end_of_day: str | None = Field(
        "23:30", pattern=_HHMM, description="HH:MM: visits still open are signed out (how: end_of_day); "
        "empty: never automatically")
    no_show_after: str = Field(
        "17:00", pattern=_HHMM, description="HH:MM: an invited visitor not arrived by then shows as a no-show")

    @property
    def end_of_day_time(self) -> dt.time | None:
        """`end_of_day` as a time (None when off)."""
        return dt.time.fromisoformat(self.end_of_day) if self.end_of_day else None

    @property
    def no_show_time(self) -> dt.time:
        """`no_show_after` as a time."""
        return dt.time.fromisoformat(self.no_show_after)


#: Badge sizes, width x height in mm as the badge is drawn (landscape). Sources: the makers'
#: label specifications: Brother DK-11202 (62 x 100 mm, QL series), DYMO LabelWriter 99014
#: (54 x 101 mm, "shipping / name badge"), DYMO 30857 (2-1/4 x 4 in, 57 x 102 mm, "badge"), a
#: Zebra 4 x 3 in direct-thermal label (101.6 x 76.2 mm), and ISO 216 A6 for a badge holder.
LABEL_SIZES: dict[str, tuple[float, float]] = {
    "brother-62x100": (100.0, 62.0),
    "dymo-99014": (101.0, 54.0),
    "dymo-30857": (102.0, 57.0),
    "zebra-4x3in": (101.6, 76.2),
    "a6": (148.0, 105.0),
}
LabelSize = Literal["brother-62x100", "dymo-99014", "dymo-30857", "zebra-4x3in", "a6"]


class BadgeConfig(_Strict):
    """Visitor badges (name, company, host, date, photo, "VISITOR"), printed at sign-in."""

    print_on_sign_in: bool = Field(False, description="print a badge when a visitor signs in at the kiosk")
    printer: str = Field(
        "pdf", min_length=1, max_length=200, description='"pdf" (a private PDF file in `folder`), '
        '"default" (the system\'s default printer) or a printer\'s name as the system lists it')
    folder: str | None = Field(None, max_length=1000, description="where badge PDFs go (default: badges/ "
                               "in the data folder)")
    size: LabelSize = Field("brother-62x100", description="the label: " + ", ".join(LABEL_SIZES))
    show_photo: bool = Field(True, description="the visitor's photo on the badge (when they gave one)")


class GalleryConfig(_Strict):
    """Where the gallery is: a file (default) or a shared PostgreSQL database (README: several kiosks)."""

    url: str | None = Field(
        None, max_length=2000, pattern=r"^(?i:postgres(ql)?://).+",
        description="postgresql://user@host/dbname?sslmode=verify-full for a gallery shared by several kiosks "
        "(the password: better in ~/.pgpass or PGPASSWORD than here); empty: the SQLite file (--db)",
    )
    encrypt_templates: bool = Field(
        True, description="a new shared gallery encrypts templates too (crops always): the DBA cannot read "
        "them, and matching uses each kiosk's in-memory matrix; false allows pgvector search on the server",
    )


class CameraConfig(_Strict):
    """Default video source."""

    source: str = "0"
    width: int = Field(640, ge=160, le=3840)
    height: int = Field(480, ge=120, le=2160)


#: What the liveness check does: off (as before it existed), passive (the cues alone), active
#: (and a challenge when they are unsure). The one list: the CLI's choices read it too.
LivenessMode = Literal["off", "passive", "active"]
LIVENESS_MODES: tuple[str, ...] = get_args(LivenessMode)


class LivenessConfig(_Strict):
    """Presentation-attack detection (docs/liveness.md). The scores are the fused evidence mapped
    to 0..1; the defaults come from development data (kiosk/liveness/fusion.py says how)."""

    mode: LivenessMode = Field(
        "passive", description="off: no check (a photo of an enrolled person is greeted as them); passive: "
        "greet only faces the cues judge live (motion, blinks, the passive model); active: also ask an unsure "
        "visitor to turn their head (or blink)",
    )
    # The two ranges do not meet (attack at most 0.4, live at least 0.6): a face is never both.
    live_score: float = Field(0.95, ge=0.6, le=0.999, description="fused score at or above which a face is live")
    attack_score: float = Field(0.05, ge=0.001, le=0.4, description="fused score at or below which a face is an attack")
    passive_interval_s: float = Field(
        1.0, ge=1.0, le=10.0, description="the passive model runs at most once per track this often")
    challenge: Literal["turn", "blink"] = Field(
        "turn", description="active mode: what to ask for (a turn is harder to fake with a replayed video)")
    challenge_after_s: float = Field(
        2.5, ge=0.5, le=15.0, description="active mode: ask when a face is still unsure this long after it appeared")
    challenge_timeout_s: float = Field(
        5.0, ge=2.0, le=20.0, description="active mode: a visitor who has not done it by then is refused")
    unsure_wait_s: float = Field(
        8.0, ge=2.0, le=60.0, description="a recognised visitor whose face is still unsure this long is sent to the "
        "receptionist (no attack is reported); active mode waits at least until its challenge ran out")


class Config(_Strict):
    """Everything the app can be told, saved as JSON in the user config dir."""

    version: int = CONFIG_VERSION
    vision: VisionConfig = VisionConfig()
    match: MatchConfig = MatchConfig()
    kiosk: KioskConfig = KioskConfig()
    camera: CameraConfig = CameraConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    gallery: GalleryConfig = GalleryConfig()
    frontdesk: FrontDeskConfig = FrontDeskConfig()
    badges: BadgeConfig = BadgeConfig()
    liveness: LivenessConfig = LivenessConfig()
    # Where recognition events go (webhooks, MQTT, host notifications) and this kiosk's site and
    # id, which visits and events carry.
    events: EventsConfig = EventsConfig()


def default_config_path() -> Path:
    """Per-user config file location."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.json"


def default_data_dir() -> Path:
    """Per-user data folder (gallery database, exports)."""
    return Path(platformdirs.user_data_dir(APP_NAME))


MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path | None = None) -> Config:
    """Read the config file (defaults when it does not exist). Errors are one line naming the
    bad key; types are strict (no "0.5" for a number, no 1 for true); a UTF-8 BOM is fine."""
    path = path or default_config_path()
    try:
        exists = path.exists()
    except OSError as exc:  # a name too long, a folder we may not enter
        raise KioskError(f"config {path}: cannot read ({os_reason(exc)})") from None
    if not exists:
        return Config()
    if not path.is_file():  # a FIFO would block the read for ever
        raise KioskError(f"config {path}: not a regular file (a folder, FIFO or device?)")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise KioskError(f"config {path}: larger than {MAX_CONFIG_BYTES // 1024} KB; not a face-kiosk config")
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise KioskError(f"config {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except RecursionError:
        raise KioskError(f"config {path}: nested too deeply; not a face-kiosk config") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise KioskError(f"config {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise KioskError(f"config {path}: must be a JSON object ({{...}}), not {type(data).__name__}")
    version = data.get("version", CONFIG_VERSION)
    if type(version) is not int or version < 1:
        raise KioskError(f"config {path}: version: must be a whole number such as {CONFIG_VERSION}, not {version!r}")
    if version > CONFIG_VERSION:
        raise KioskError(f"config {path}: made by a newer face-kiosk (version {version})")
    data = migrate_config(data)
    try:
        # Strict, from JSON: JSON's own types only (strings still name enums and URLs).
        return Config.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise KioskError(f"config {path}: {where}: {first['msg']}") from None


def migrate_config(data: dict[str, Any]) -> dict[str, Any]:
    """A config of an earlier version in today's shape (version 1: `match.mask_threshold` judged
    the tracker's smoothed score only; its old default 0.5 is dropped, other values move;
    versions 1-2: `vision.threads` sized onnxruntime's pools, which the app no longer uses)."""
    if int(data.get("version", CONFIG_VERSION)) < 2 and isinstance(data.get("match"), dict):
        data = {**data, "match": dict(data["match"]), "vision": dict(data.get("vision") or {})}
        old = data["match"].pop("mask_threshold", None)
        if old is not None and old != 0.5:
            data["vision"].setdefault("mask_threshold", old)
    if int(data.get("version", CONFIG_VERSION)) < 3 and isinstance(data.get("vision"), dict):
        data = {**data, "vision": {k: v for k, v in data["vision"].items() if k != "threads"}}
    data = {**data, "version": CONFIG_VERSION}
    return data


def save_config(config: Config, path: Path | None = None) -> None:
    """Write the config atomically (a crash never leaves half a file), 0600; the app's own config
    folder is made 0700 (a folder given with --config is left as it is, if it exists).

    (The same rules as kiosk.security.private_files, written out here: the config sits below
    every room of the core and imports none of them.)
    """
    path = path or default_config_path()
    if path.parent == default_config_path().parent or not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(path.parent, 0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(config.model_dump_json(indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def config_from_args(args: argparse.Namespace) -> Config:
    """The config for a CLI command: the file (`--config` or the default) plus `--embedder`,
    `--detector` and `--liveness` overrides."""
    path = getattr(args, "config", None)
    config = load_config(Path(path) if path else None)
    if getattr(args, "embedder", None):
        config.vision.embedder = args.embedder
    if getattr(args, "detector", None):
        config.vision.detector = args.detector
    if getattr(args, "liveness", None):
        config.liveness.mode = args.liveness
    return config
