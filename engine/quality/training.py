"""Training the match model: labelled pairs (ground truth, reviewers) -> a model artifact.

Labels come from

- **ground truth** of a synthetic world (``truth/records.csv``: source, record_id, person_id): every
  candidate pair blocking produces is labelled 1 when both records belong to one person. Train on
  one seed's world and evaluate on another's: a model is never scored on the world it learned from;
- **reviewers' decisions** (a frame of pairs with ``same`` = True / False), which outrank truth;
- **nothing**: :func:`fit_unsupervised` fits a Fellegi-Sunter model by EM on the candidate pairs.

:func:`train_default` builds the shipped default artifact (``models/trained/default.json``) from a
synthetic world, so a fresh install can resolve before anyone has labelled a pair.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.resolve.blocking import DEFAULT_RULES, BlockingRule, candidate_pairs
from engine.resolve.compare import FEATURES, compare
from engine.resolve.pipeline import ResolveSettings
from engine.resolve.prepare import prepare
from models.artifacts import DEFAULT_ARTIFACT

log = logging.getLogger(__name__)

#: Comparison levels for the features whose values are not similarities or small counts (they
#: describe the features in the artifact; the logistic method learns one weight per level).
FEATURE_LEVELS: dict[str, list[float]] = {
    "number_names": [0.0, 0.7, 1.4, 2.1],
    "name_freq": [2.0, 3.0, 4.0, 5.0, 6.0],
    "given_freq": [4.0, 5.0, 6.0, 7.0, 8.0],
    # log1p of 1, 2, 3, 5 and 10 records of the name in the place
    "place_name_freq": [0.69, 1.1, 1.39, 1.79, 2.4],
}


#: Blocking for training pairs: the batch's rules plus namesakes born in overlapping years anywhere
#: in the country. The batch meets such pairs (name and date-of-birth keys, pairs completed inside
#: components) but its own rules propose too few of them for a model to learn that two records of
#: one name and age in different districts or unions are, as a rule, two people: without them a
#: survey child aged 6 linked a stipend record of a namesake two districts away at 0.99.
TRAINING_RULES: tuple[BlockingRule, ...] = (
    *DEFAULT_RULES,
    BlockingRule("name_year", ("name_keys", "birth_years"), max_block=40),
)


@dataclass
class LabelledPairs:
    """Candidate pairs with their features and 0/1 labels (``-1`` = unknown)."""

    prepared: pd.DataFrame
    pairs: pd.DataFrame
    features: pd.DataFrame
    labels: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return self.labels >= 0


def read_truth(path: Path | str) -> pd.DataFrame:
    """A truth file (``source, record_id, person_id[, household_id]``) with string columns."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def person_labels(prepared: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """The true ``person_id`` of each prepared row (``None`` where truth does not know the
    record)."""
    keyed = truth.drop_duplicates(["source", "record_id"]).set_index(["source", "record_id"])
    index = pd.MultiIndex.from_arrays([prepared["source"], prepared["record_id"]])
    return keyed["person_id"].reindex(index).to_numpy(dtype=object)


def pair_labels(pairs: pd.DataFrame, person: np.ndarray) -> np.ndarray:
    """1 when both records of a pair are one person, 0 when not, -1 when either is unknown."""
    left = person[pairs["left"].to_numpy()]
    right = person[pairs["right"].to_numpy()]
    known = pd.notna(left) & pd.notna(right)
    return np.where(known, (left == right).astype(np.int8), -1).astype(np.int8)


def apply_decisions(
    prepared: pd.DataFrame, pairs: pd.DataFrame, labels: np.ndarray, decisions: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """Reviewers' decisions over the labels; decided pairs that were no candidates are added.

    ``decisions`` has ``left_source``, ``left_record_id``, ``right_source``, ``right_record_id`` and
    ``same`` (bool). Returns the (possibly longer) pairs and their labels.
    """
    position = pd.Series(
        np.arange(len(prepared)),
        index=pd.MultiIndex.from_arrays([prepared["source"], prepared["record_id"]]),
    )
    a = position.reindex(
        pd.MultiIndex.from_arrays([decisions["left_source"], decisions["left_record_id"]])
    )
    b = position.reindex(
        pd.MultiIndex.from_arrays([decisions["right_source"], decisions["right_record_id"]])
    )
    ok = a.notna().to_numpy() & b.notna().to_numpy()
    if not ok.all():
        log.warning("%d reviewer decisions name records not in the data; ignored", int((~ok).sum()))
    a, b = a.to_numpy()[ok].astype(np.int64), b.to_numpy()[ok].astype(np.int64)
    same = decisions["same"].to_numpy(dtype=bool)[ok]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = len(prepared)
    code = pairs["left"].to_numpy() * n + pairs["right"].to_numpy()
    decided = pd.Series(same.astype(np.int8), index=lo * n + hi)
    decided = decided[~decided.index.duplicated(keep="last")]
    labels = labels.copy()
    hit = np.isin(code, decided.index)
    labels[hit] = decided.reindex(code[hit]).to_numpy()
    new = ~np.isin(decided.index.to_numpy(), code)
    extra = pd.DataFrame(
        {
            "left": decided.index.to_numpy()[new] // n,
            "right": decided.index.to_numpy()[new] % n,
            "rules": 0,
        }
    )
    out = pd.concat([pairs, extra], ignore_index=True)
    return out, np.concatenate([labels, decided.to_numpy()[new]]).astype(np.int8)


def labelled_pairs(
    records: pd.DataFrame,
    truth: pd.DataFrame | None = None,
    decisions: pd.DataFrame | None = None,
    settings: ResolveSettings | None = None,
) -> LabelledPairs:
    """Prepare, block and compare ``records``; label the pairs from truth and/or reviewer
    decisions.

    ``settings`` gives the blocking rules (default: :data:`TRAINING_RULES`).
    """
    settings = settings or ResolveSettings(rules=TRAINING_RULES)
    prepared = prepare(records)
    person = person_labels(prepared, truth) if truth is not None else np.full(len(prepared), None)
    pairs, report = candidate_pairs(prepared, settings.rules, person if truth is not None else None)
    log.info("training pairs: %s", report.to_text())
    labels = pair_labels(pairs, person)
    if decisions is not None and len(decisions):
        pairs, labels = apply_decisions(prepared, pairs, labels, decisions)
    features = compare(prepared, pairs)
    return LabelledPairs(prepared, pairs, features, labels)


def with_component_pairs(data: LabelledPairs, model: Any, person: np.ndarray) -> LabelledPairs:
    """Add the pairs the batch would score inside components (see
    :func:`engine.resolve.cluster.complete_pairs`), labelled from truth.

    The batch scores, besides candidate pairs, every pair inside a small component of confident
    links: pairs no blocking rule proposed (other districts, nothing shared but a name and an
    age). A model that never saw such pairs calls them matches; a second fit that sees them
    learns otherwise.
    """
    from engine.resolve.cluster import complete_pairs, components
    from engine.resolve.pipeline import score

    scores = score(model, data.features)
    strong = scores["weight"].to_numpy() > 0
    n = len(data.prepared)
    labels = components(n, data.pairs["left"].to_numpy(), data.pairs["right"].to_numpy(), strong)
    extra = complete_pairs(labels, data.pairs)
    extra["rules"] = np.zeros(len(extra), dtype=np.int64)
    log.info("adding %d pairs from inside components", len(extra))
    features = compare(data.prepared, extra)
    return LabelledPairs(
        data.prepared,
        pd.concat([data.pairs, extra], ignore_index=True),
        pd.concat([data.features, features], ignore_index=True),
        np.concatenate([data.labels, pair_labels(extra, person)]).astype(np.int8),
    )


def new_classifier(method: str = "boosting") -> Any:
    """A fresh supervised pair classifier: ``models.PairClassifier`` (boosting or logistic)."""
    from models import PairClassifier

    if method == "boosting":
        # small trees: the artifact is evaluated in numpy, and a national load scores ~10^8 pairs
        return PairClassifier(
            method=method,
            comparisons=FEATURE_LEVELS,
            cv=3,
            max_iter=100,
            max_leaf_nodes=15,
            learning_rate=0.2,
            # a leaf of a few pure pairs otherwise gets a value in the hundreds (two siblings of
            # one school with their parents' names scored 0.999 on a +43 for "born 2 years apart")
            l2_regularization=1.0,
        )
    return PairClassifier(method=method, comparisons=FEATURE_LEVELS, cv=3)


def fit_supervised(data: LabelledPairs, method: str = "boosting") -> Any:
    """Fit a pair classifier on the labelled pairs (unknown labels left out)."""
    known = data.known
    if not known.any():
        raise ValueError(
            "No labelled pairs: give truth or reviewer decisions, or fit_unsupervised."
        )
    X = data.features.loc[known, list(FEATURES)].reset_index(drop=True)
    y = data.labels[known].astype(int)
    log.info("fitting %s on %d pairs (%d matches)", method, len(y), int(y.sum()))
    return new_classifier(method).fit(X, y)


#: Features of the unsupervised model: one per kind of evidence, since Fellegi-Sunter multiplies
#: them as if independent (five name similarities would count one name five times).
UNSUPERVISED_FEATURES: tuple[str, ...] = (
    "name_sort",
    "father_sim",
    "mother_sim",
    "gender_match",
    "year_gap",
    "dob_match",
    "nid_match",
    "brn_match",
    "number_shared",
    "geo_level",
)


def fit_unsupervised(data: LabelledPairs) -> Any:
    """Fellegi-Sunter by EM on the candidate pairs: the start when nothing is labelled."""
    from models import FellegiSunter

    X = data.features[list(UNSUPERVISED_FEATURES)].reset_index(drop=True)
    return FellegiSunter().fit(X)


def save_model(
    model: Any,
    path: Path | str,
    summary: dict[str, Any] | None = None,
    holdout: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> Path:
    """Write the model as a readable JSON artifact (``models.save``), with where its labels came
    from (``summary["label_source"]``), the summary as metrics, and hold-out metrics when given."""
    from models import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = dict(summary or {})
    label_source = summary.pop("label_source", None)
    return save(model, path, label_source=label_source, holdout=holdout, metrics=summary)


def load_model(path: Path | str = DEFAULT_ARTIFACT) -> Any:
    """Read a model artifact written by :func:`save_model` (JSON; nothing is unpickled)."""
    from models import load

    return load(path)


def train_default(
    records: pd.DataFrame | Sequence[tuple[pd.DataFrame, pd.DataFrame]],
    truth: pd.DataFrame | None = None,
    out: Path | str = DEFAULT_ARTIFACT,
    method: str = "boosting",
    label_source: str = "ground truth",
    about: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train a match model on labelled records (two fits) and write the artifact.

    :mod:`synth.train_default` calls it with synthetic worlds to build the shipped default.

    Parameters
    ----------
    records:
        Canonical records (``RecordStore.current()``), or several worlds as ``(records, truth)``
        pairs: each world is prepared, blocked and compared on its own (its counts are its own),
        and the model is fitted on the pairs of all of them.
    truth:
        ``source, record_id, person_id`` of every record (:func:`read_truth`); ``None`` when
        ``records`` lists worlds.
    out:
        Artifact path.
    method:
        ``"boosting"`` or ``"logistic"``.
    label_source:
        Where the labels came from, written into the artifact.
    about:
        Further facts for the artifact's training summary (e.g. the worlds' sizes and seeds).

    Returns
    -------
    (model, summary)
    """
    if isinstance(records, pd.DataFrame):
        if truth is None:
            raise ValueError("Give the records' truth, or a list of (records, truth) worlds.")
        worlds = [(records, truth)]
    else:
        worlds = list(records)
    data = [labelled_pairs(r, t) for r, t in worlds]
    model = fit_supervised(_joined(data), method)
    # second fit: with the pairs the batch scores inside components, labelled from truth
    data = [
        with_component_pairs(d, model, person_labels(d.prepared, t))
        for d, (_, t) in zip(data, worlds, strict=True)
    ]
    joined = _joined(data)
    model = fit_supervised(joined, method)
    summary = {
        "label_source": label_source,
        **(about or {}),
        "records": int(sum(len(r) for r, _ in worlds)),
        "training_pairs": int(joined.known.sum()),
        "matching_pairs": int((joined.labels == 1).sum()),
    }
    save_model(model, out, summary)
    return model, summary


def _joined(data: Sequence[LabelledPairs]) -> LabelledPairs:
    """The labelled pairs of several worlds as one set to fit on: ``pairs`` gain a ``world``
    column (their rows are rows of that world's prepared frame); ``prepared`` is the first
    world's."""
    if len(data) == 1:
        return data[0]
    return LabelledPairs(
        data[0].prepared,
        pd.concat([d.pairs.assign(world=i) for i, d in enumerate(data)], ignore_index=True),
        pd.concat([d.features for d in data], ignore_index=True),
        np.concatenate([d.labels for d in data]).astype(np.int8),
    )
