"""Mask-aware matching of probe embeddings against the gallery's templates.

Decision rules live here, shared by the CLI, the live window, kiosk mode and `eval`,
so every number the benchmarks print is measured at the app's own thresholds.

How a probe is scored (docs/matching.md has the measurements behind each choice):

- Each person is one row: the mean of their templates from unmasked photos, or, for someone
  enrolled only in a mask, the mean of their masked-photo templates. A mean keeps one
  comparison per person however many photos they have (a max over k templates lets strangers
  in k times as often); the thresholds account for the photo count.
- The shipped adapter centres every embedding; comparisons with a masked side also project
  out the NAP directions (how a mask moves an embedding), on both sides. The gallery side is
  transformed once, when the matcher is built.
- Every comparison kind (cell) has its own threshold, derived from the shipped impostor-tail
  calibration for the target FPIR and the gallery's size N (verify: for `verify_far`).
  The person furthest above their own threshold wins.
- A masked probe that falls just short ("ask_to_unmask") is neither greeted nor called a
  stranger: the UI asks the visitor to lower the mask for a moment, then matches the
  unmasked face at the unmasked threshold.
"""

from __future__ import annotations

import logging
from functools import cache

import numpy as np

from kiosk.config import MatchConfig
from kiosk.gallery.api import TemplateSet
from kiosk.recognition.calibration import (
    MASK_VS_MASK,
    MASKED,
    UNMASKED,
    Calibration,
    fused_cell,
    load_calibration,
    per_comparison_far,
)
from kiosk.recognition.verdict import NO_SCORE, Verdict

log = logging.getLogger(__name__)

# Template kinds stored per enrollment sample.
FULL = "full"  # a photo without a mask
MASKED_PHOTO = "masked"  # a photo in which the person wore a mask
SYNTH_MASK = "synthetic-mask"  # a mask painted on an unmasked photo (older galleries; not matched)

# Used only for embedders without a shipped calibration (e.g. synthetic benchmark vectors):
# SFace's thresholds at ~the default FPIR for a gallery of a few hundred people.
_FALLBACK = {UNMASKED: 0.47, MASKED: 0.47, MASK_VS_MASK: 0.55}


def _group_mean(matrix: np.ndarray, person_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique people (sorted), the L2-normalised mean of each one's rows, and how many rows each had."""
    order = np.argsort(person_ids, kind="stable")
    people, starts, counts = np.unique(person_ids[order], return_index=True, return_counts=True)
    sums = np.add.reduceat(matrix[order], starts, axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return people, (sums / np.maximum(norms, 1e-12)).astype(np.float32), counts


class Matcher:
    """Scores probes against one TemplateSet with thresholds chosen by mask state and gallery size.

    Built once per gallery version (the adapter runs over the gallery here, not per query);
    `identify` is then one matrix product per probe group.
    """

    def __init__(self, templates: TemplateSet, config: MatchConfig | None = None,
                 calibration: Calibration | None = None) -> None:
        self.config = config or MatchConfig()
        self.templates = templates
        self.calibration = calibration if calibration is not None else _calibration_for(templates.model_version)
        cal = self.calibration
        kinds = templates.kinds.astype(str)
        full = kinds == FULL
        masked_photo = kinds == MASKED_PHOTO
        dim = templates.matrix.shape[1] if templates.matrix.ndim == 2 else 0
        # One row per person: the mean of their unmasked-photo templates, else of their masked ones.
        with_full = np.unique(templates.person_ids[full])
        only_masked = masked_photo & ~np.isin(templates.person_ids, with_full)
        use = np.flatnonzero(full | only_masked)
        if len(use):
            matrix, ids = templates.matrix[use], templates.person_ids[use]
            self._people, self._rows, counts = _group_mean(cal.plain(matrix) if cal else matrix, ids)
            _, self._rows_nap, _ = _group_mean(cal.masked_space(matrix) if cal else matrix, ids)
        else:
            self._people = np.zeros(0, np.int64)
            self._rows = self._rows_nap = np.zeros((0, dim), np.float32)
            counts = np.zeros(0, np.int64)
        self._photos = counts
        self._row_masked = ~np.isin(self._people, with_full)
        # Optionally, people enrolled bare *and* in their own mask get a second row for masked
        # probes: the mean of their masked-photo templates, compared mask-vs-mask.
        self._mask_cols = np.zeros(0, np.int64)
        self._mask_rows = np.zeros((0, dim), np.float32)
        if self.config.use_masked_samples:
            extra = masked_photo & np.isin(templates.person_ids, with_full)
            if extra.any():
                m = templates.matrix[extra]
                people, self._mask_rows, _ = _group_mean(cal.masked_space(m) if cal else m,
                                                         templates.person_ids[extra])
                self._mask_cols = np.searchsorted(self._people, people)
        # A stranger must match nobody with probability 1 - target_fpir over every row they meet:
        # a bare probe meets n person rows, a masked one also the m own-mask rows (each row's
        # per-comparison FAR shrinks as own-mask rows are added, so the FPIR does not grow).
        n, m = len(self._people), len(self._mask_cols)
        self._far = {False: per_comparison_far(self.config.target_fpir, n),
                     True: per_comparison_far(self.config.target_fpir, n + m)}
        self._band_far = ({masked: per_comparison_far(self.config.unmask_band_fpir, n + m * masked)
                           for masked in (False, True)}
                          if self.config.unmask_band_fpir > self.config.target_fpir else None)
        self._thr_cache: dict[tuple[bool, bool], tuple[np.ndarray, np.ndarray]] = {}
        self._own_mask_thr: dict[bool, tuple[float, float]] = {}

    # -- thresholds ------------------------------------------------------------------

    def _threshold(self, cell: str, far: float, photos: int) -> float:
        """The score an impostor of `cell` reaches with probability `far` (config overrides win)."""
        base = cell.removesuffix(fused_cell(""))
        override = {UNMASKED: self.config.threshold_unmasked, MASKED: self.config.threshold_masked,
                    MASK_VS_MASK: self.config.threshold_mask_vs_mask}[base]
        if override is not None:
            return float(override)
        if self.calibration is None or base not in self.calibration.tails:
            return _FALLBACK[base]
        if cell not in self.calibration.tails:  # a calibration without fused-probe tails
            cell = base
        return self.calibration.threshold(cell, far, photos)

    def _row_thresholds(self, far: float, cell_unmasked_row: str, cell_masked_row: str) -> np.ndarray:
        out = np.empty(len(self._people), np.float32)
        for k in np.unique(self._photos):
            sel = self._photos == k
            out[sel & ~self._row_masked] = self._threshold(cell_unmasked_row, far, int(k))
            out[sel & self._row_masked] = self._threshold(cell_masked_row, far, int(k))
        return out

    def _probe_thresholds(self, masked: bool, fused: bool) -> tuple[np.ndarray, np.ndarray]:
        """(acceptance thresholds, ask-to-unmask band edges) per person row, for one kind of probe."""
        key = (masked, fused)
        if key not in self._thr_cache:
            cell = MASKED if masked else UNMASKED
            probe_cell = fused_cell(cell) if fused else cell
            # vs someone enrolled only in a mask: one side more masked than the probe.
            masked_row_cell = MASK_VS_MASK if masked else MASKED
            thr = self._row_thresholds(self._far[masked], probe_cell, masked_row_cell)
            band = thr
            if masked and self._band_far is not None:
                band = np.minimum(self._row_thresholds(self._band_far[True], probe_cell, masked_row_cell), thr)
            self._thr_cache[key] = (thr, band)
        return self._thr_cache[key]

    def _own_mask_thresholds(self, fused: bool) -> tuple[float, float]:
        """(threshold, ask-to-unmask band edge) of an own-mask row (mask vs mask) for a masked
        probe, fused from a track's frames or not. The band belongs to the row that speaks, as the
        threshold does; worked out once per matcher."""
        if fused not in self._own_mask_thr:
            cell = fused_cell(MASK_VS_MASK) if fused else MASK_VS_MASK
            thr = self._threshold(cell, self._far[True], 1)
            band = thr
            if self._band_far is not None:
                band = min(self._threshold(cell, self._band_far[True], 1), thr)
            self._own_mask_thr[fused] = (thr, band)
        return self._own_mask_thr[fused]

    def row_thresholds(self, masked: bool, fused: bool = False) -> np.ndarray:
        """The acceptance threshold of each person (columns of `person_scores`) for one kind of probe."""
        return self._probe_thresholds(masked, fused)[0].copy()

    def thresholds(self, masked: bool, photos: int = 1, fused: bool = False) -> float:
        """The 1:N threshold for a probe of this mask state vs someone enrolled unmasked with `photos` photos."""
        cell = MASKED if masked else UNMASKED
        return self._threshold(fused_cell(cell) if fused else cell, self._far[masked], photos)

    @property
    def n_people(self) -> int:
        """People the matcher compares with (the N the thresholds are set for)."""
        return len(self._people)

    @property
    def people(self) -> np.ndarray:
        """Person ids in column order of `person_scores`."""
        return self._people

    # -- scoring ---------------------------------------------------------------------

    def person_scores(self, probes: np.ndarray, masked: np.ndarray) -> np.ndarray:
        """(m, P) cosine of each probe with each person, in the space its cell uses."""
        probes = np.atleast_2d(np.asarray(probes, np.float32))
        masked = np.asarray(masked, bool).reshape(-1)
        cal = self.calibration
        scores = np.empty((len(probes), len(self._people)), np.float32)
        plain = np.flatnonzero(~masked)
        if len(plain):
            p = probes[plain]
            scores[plain] = (cal.plain(p) if cal else p) @ self._rows.T
            if self._row_masked.any():  # an unmasked probe vs someone enrolled in a mask is a MASKED cell
                cols = np.flatnonzero(self._row_masked)
                scores[np.ix_(plain, cols)] = (cal.masked_space(p) if cal else p) @ self._rows_nap[cols].T
        hidden = np.flatnonzero(masked)
        if len(hidden):
            p = probes[hidden]
            scores[hidden] = (cal.masked_space(p) if cal else p) @ self._rows_nap.T
        return scores

    def identify(self, probes: np.ndarray, masked: np.ndarray, fused: np.ndarray | None = None) -> list[Verdict]:
        """1:N: the matched person (or None) for each probe embedding.

        `fused[i]` marks a probe averaged from several frames of one track: its thresholds come
        from the fused-probe tails (an average of strangers' frames looks a little more like
        everyone; see tools/calibrate.py).
        """
        probes = np.atleast_2d(np.asarray(probes, np.float32))
        masked = np.asarray(masked, bool).reshape(-1)
        fused = np.zeros(len(masked), bool) if fused is None else np.asarray(fused, bool).reshape(-1)
        if not len(self._people):
            return [Verdict(None, None, NO_SCORE, self.thresholds(bool(m), fused=bool(f)), masked=bool(m))
                    for m, f in zip(masked, fused)]
        scores = self.person_scores(probes, masked)
        thr = np.empty_like(scores)
        band = np.ones_like(scores)
        for m in (False, True):
            for f in (False, True):
                sel = (masked == m) & (fused == f)
                if sel.any():
                    t, b = self._probe_thresholds(m, f)
                    thr[sel] = t
                    if m:
                        band[sel] = b
        margins = scores - thr
        if len(self._mask_cols) and masked.any():
            # A masked probe may also meet the person's own-mask row (mask vs mask); per person,
            # the row with the better margin speaks.
            hidden = np.flatnonzero(masked)
            cal = self.calibration
            extra = (cal.masked_space(probes[hidden]) if cal else probes[hidden]) @ self._mask_rows.T
            own = np.array([self._own_mask_thresholds(bool(fused[i])) for i in hidden], np.float32).reshape(-1, 2)
            mvm, mvm_band = own[:, :1], own[:, 1:]
            better = extra - mvm > margins[np.ix_(hidden, self._mask_cols)]
            for j, probe in enumerate(hidden):
                cols = self._mask_cols[better[j]]
                scores[probe, cols] = extra[j, better[j]]
                thr[probe, cols] = mvm[j, 0]
                band[probe, cols] = mvm_band[j, 0]
                margins[probe, cols] = scores[probe, cols] - mvm[j, 0]
        # The person furthest above (or least below) their own threshold wins.
        best = np.argmax(margins, axis=1)
        results = []
        for i, b in enumerate(best):
            row = scores[i]
            top = float(row[b])
            second = float(np.max(np.delete(row, b))) if len(row) > 1 else -1.0
            threshold = float(thr[i, b])
            pid = int(self._people[b])
            accepted = top >= threshold
            results.append(Verdict(
                pid if accepted else None,
                self.templates.names.get(pid) if accepted else None,
                top,
                threshold,
                masked=bool(masked[i]),
                candidate_id=pid,
                runner_up=second,
                unmask_below=float(band[i, b]) if masked[i] else 1.0,
            ))
        return results


def _calibration_for(model_version: str) -> Calibration | None:
    calibration = load_calibration(model_version)
    if calibration is None:
        _warn_uncalibrated(model_version)
    return calibration


@cache
def _warn_uncalibrated(model_version: str) -> None:
    # Once per version: a matcher is rebuilt after every gallery change.
    log.warning("no shipped calibration for %s: using fixed fallback thresholds", model_version)


def _default_model_version() -> str:
    from kiosk.models import MODELS
    from kiosk.vision.pipeline import template_version

    return template_version(MODELS["sface"].version)


def _pair_cell(masked_a: bool, masked_b: bool) -> str:
    return MASK_VS_MASK if (masked_a and masked_b) else MASKED if (masked_a or masked_b) else UNMASKED


def verify_threshold(config: MatchConfig, masked_a: bool, masked_b: bool,
                     model_version: str | None = None) -> float:
    """The 1:1 acceptance threshold for this pair's mask states (for `config.verify_far`)."""
    if config.verify_threshold is not None:
        return config.verify_threshold
    cell = _pair_cell(masked_a, masked_b)
    calibration = load_calibration(model_version or _default_model_version())
    if calibration is None or cell not in calibration.tails:
        return _FALLBACK[cell]
    return calibration.threshold(cell, config.verify_far)


def verify_score(a: np.ndarray, b: np.ndarray, masked_a: bool = False, masked_b: bool = False,
                 model_version: str | None = None) -> float:
    """1:1 similarity of two embeddings in the space their mask states call for."""
    pair = np.stack([np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()])
    calibration = load_calibration(model_version or _default_model_version())
    if calibration is not None:
        if calibration.mean is not None and calibration.mean.shape[0] != pair.shape[1]:
            raise ValueError(f"{pair.shape[1]}-d embeddings but the calibration of {calibration.model_version} "
                             f"is {calibration.mean.shape[0]}-d: pass the pipeline's model_version")
        pair = calibration.masked_space(pair) if (masked_a or masked_b) else calibration.plain(pair)
    return float(np.dot(pair[0], pair[1]))


def verify_pair(a: np.ndarray, masked_a: bool, b: np.ndarray, masked_b: bool,
                config: MatchConfig | None = None, model_version: str | None = None) -> tuple[float, bool]:
    """1:1: (score, same person?) at the app's threshold for these mask states.

    `model_version` is the embedder's (FacePipeline.model_version); None means the default
    SFace, whose calibration then applies.
    """
    config = config or MatchConfig()
    score = verify_score(a, b, masked_a, masked_b, model_version)
    return score, bool(score >= verify_threshold(config, masked_a, masked_b, model_version))
