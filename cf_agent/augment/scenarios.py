"""Label-scarcity scenarios: the training split with only a fraction of the minority class kept.

The split is the classifier bundle's saved one, or a fresh stratified split drawn exactly as
`cf-agent train` draws it. The test split is never touched. For one seed the minority rows are
shuffled once and each scenario keeps a prefix of that order, so the rows kept at 10% are
among those kept at 25% and 50%: the scenarios differ only in how many labels were lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cf_agent.augment.options import scenario_name
from cf_agent.data.cohort import Cohort
from cf_agent.errors import DataError
from cf_agent.models.classifier import SPLIT_COLUMN, split_positions

MIN_KEPT = 2  # SMOTE needs a neighbour, and a class needs two rows to be learnt at all


@dataclass(frozen=True)
class Scenario:
    """The scarce training rows of one (keep fraction, seed) and what was left out."""

    keep: float
    seed: int
    minority_class: int
    train: pd.DataFrame
    removed: int

    @property
    def name(self) -> str:
        """'keep25' for keep = 0.25: a stable key for journals and file names."""
        return scenario_name(self.keep)


def stratified_split(cohort: Cohort, test_size: float, seed: int) -> pd.DataFrame:
    """The split `cf-agent train --test-size T --seed S` draws (id column, 'split')."""
    _, test_pos = split_positions(cohort, test_size, seed)
    in_test = np.zeros(len(cohort), dtype=bool)
    in_test[test_pos] = True
    return pd.DataFrame(
        {
            cohort.spec.id_column: cohort.ids.to_numpy(),
            SPLIT_COLUMN: np.where(in_test, "test", "train"),
        },
        dtype=object,
    )


def split_frames(cohort: Cohort, split: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows of the cohort, in file order; every person must be in the split."""
    id_column = cohort.spec.id_column
    sides = dict(zip(split[id_column].astype(str), split[SPLIT_COLUMN], strict=True))
    side = cohort.ids.astype(str).map(sides)
    unknown = cohort.ids[side.isna()]
    if len(unknown):
        raise DataError(
            f"{len(unknown)} people of {cohort.source} are not in the classifier's split "
            f"(first: {', '.join(map(repr, unknown.head(3)))})",
            "pass the data the classifier was trained on, or leave out --classifier to split "
            "afresh",
        )
    frame = cohort.frame
    return frame[(side == "train").to_numpy()], frame[(side == "test").to_numpy()]


def minority_class(labels: pd.Series) -> int:
    """The rarest class (ties: the smaller value), as the classifier bundle names it."""
    counts = labels.value_counts()
    return int(min(counts.index, key=lambda c: (counts[c], c)))


def kept_count(keep: float, minority_rows: int) -> int:
    """round(keep x minority rows), halves rounded up: the exact number of labels kept."""
    return int(np.floor(keep * minority_rows + 0.5))


def scarce_training(
    train: pd.DataFrame, label: str, minority: int, keep: float, seed: int
) -> Scenario:
    """Keep `kept_count` minority rows (a seeded prefix, nested across fractions), all others."""
    if not 0 < keep < 1:
        raise ValueError(f"keep must be between 0 and 1, got {keep}")
    is_minority = (train[label] == minority).to_numpy()
    minority_positions = np.flatnonzero(is_minority)
    n_keep = kept_count(keep, len(minority_positions))
    if n_keep < MIN_KEPT:
        raise DataError(
            f"keeping {keep:g} of the {len(minority_positions)} training rows of class "
            f"{minority} leaves {n_keep} (fewer than {MIN_KEPT})",
            "use a larger keep fraction or more data",
        )
    order = np.random.default_rng(seed).permutation(len(minority_positions))
    mask = ~is_minority
    mask[minority_positions[order[:n_keep]]] = True
    return Scenario(
        keep=keep,
        seed=seed,
        minority_class=minority,
        train=train[mask],
        removed=len(minority_positions) - n_keep,
    )
