"""What encrypting the gallery costs, on the real Gallery: SQLCipher vs plaintext SQLite.

    .venv/bin/python tools/bench_encryption.py [--people 10000] [--repeat 5]

Synthetic people (one sample each: a small 112x112 crop, one random unit 128-d template, as
SFace makes), written by kiosk.gallery.Gallery with `encrypt=True` (the default: SQLCipher 4,
AES-256, key in a 0600 key file here) and `encrypt=False`. Figures (medians of `--repeat`):

- write: every person in one `add_people` transaction (what an import of the whole gallery does);
- open: `Gallery(path)`: key lookup, key check, schema check, PRAGMA quick_check;
- templates: `templates(model)` on a freshly opened gallery (the matrix the kiosk matches against);
- identify: one 1:N pass of a probe against that matrix (numpy; the same in-memory work for both).

The key folder and the galleries live in a temporary folder (the user's keyring is never used).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="face-kiosk-bench-"))
for _var, _sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
    os.environ[_var] = str(_TMP / _sub)
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from kiosk.config import MatchConfig  # noqa: E402
from kiosk.gallery import Gallery  # noqa: E402
from kiosk.gallery.api import NewSample, NewTemplate, PersonDetails  # noqa: E402
from kiosk.recognition.matching import Matcher  # noqa: E402

MODEL = "sface-bench@000"


def people(n: int, seed: int = 0) -> list[tuple[PersonDetails, list[NewSample]]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        small = rng.integers(0, 255, (8, 8, 3), np.uint8)
        crop = cv2.resize(small, (112, 112), interpolation=cv2.INTER_LINEAR)  # a smooth, face-sized crop
        vec = rng.standard_normal(128).astype(np.float32)
        out.append((PersonDetails(f"Person {i:05d}", company="Acme", consent_text="signed", consent_at="2026-01-01"),
                    [NewSample(crop, [NewTemplate("full", vec / np.linalg.norm(vec), 0.8)], "bench", 0.8)]))
    return out


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def run(encrypt: bool, batch: list, repeat: int) -> dict[str, float]:
    results: dict[str, list[float]] = {"write": [], "open": [], "templates": [], "identify": [], "size_mb": []}
    for r in range(repeat):
        db = _TMP / f"{'enc' if encrypt else 'plain'}-{r}.db"
        with Gallery(db, encrypt=encrypt) as g:
            assert g.encrypted is encrypt
            t, _ = timed(lambda g=g: g.add_people(batch, MODEL))
            results["write"].append(t)
        opened: dict[str, Gallery] = {}
        t, _ = timed(lambda db=db, opened=opened: opened.setdefault("g", Gallery(db, create=False)))
        results["open"].append(t)
        g = opened["g"]
        t, templates = timed(lambda g=g: g.templates(MODEL))
        results["templates"].append(t)
        matcher = Matcher(templates, MatchConfig())
        probe = templates.matrix[len(templates) // 2][None]
        matcher.identify(probe, np.array([False]))  # warm
        times = []
        for _ in range(20):
            t, _ = timed(lambda m=matcher, p=probe: m.identify(p, np.array([False])))
            times.append(t)
        results["identify"].append(statistics.median(times))
        g.close()
        files = list(db.parent.glob(db.name + "*"))
        results["size_mb"].append(sum(p.stat().st_size for p in files) / 1e6)
        for p in files:
            p.unlink()
    return {k: statistics.median(v) for k, v in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # "not encrypted" and "no shipped calibration": expected here
    batch = people(args.people)
    rows = {name: run(encrypt, batch, args.repeat) for name, encrypt in (("plaintext", False), ("SQLCipher", True))}
    print(f"{args.people} people, one sample and one 128-d template each; medians of {args.repeat} runs")
    print(f"{'':<12}{'open ms':>10}{'write s':>10}{'templates ms':>14}{'identify ms':>13}{'file MB':>9}")
    for name, r in rows.items():
        print(f"{name:<12}{r['open'] * 1e3:>10.1f}{r['write']:>10.2f}{r['templates'] * 1e3:>14.1f}"
              f"{r['identify'] * 1e3:>13.3f}{r['size_mb']:>9.1f}")
    p, c = rows["plaintext"], rows["SQLCipher"]
    print(f"SQLCipher / plaintext: open x{c['open'] / p['open']:.1f}, write x{c['write'] / p['write']:.2f}, "
          f"templates x{c['templates'] / p['templates']:.2f}, identify x{c['identify'] / p['identify']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
