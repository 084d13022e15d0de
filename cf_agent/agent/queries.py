"""Who the agent is asked about: the rows the classifier puts outside the desired class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from cf_agent.data.cohort import Cohort
from cf_agent.errors import DataError
from cf_agent.models.classifier import ClassifierBundle


class Query(BaseModel):
    query_id: str
    row: dict[str, Any]
    current_class: int


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def plan_queries(cohort: Cohort, bundle: ClassifierBundle, n: int | None) -> list[Query]:
    """The rows the classifier puts outside the desired class, in file order, first n."""
    spec = cohort.spec
    features = cohort.frame[spec.feature_names]
    predicted = bundle.predict(features)
    queries = []
    for i, label in enumerate(predicted):
        if int(label) == spec.desired_class:
            continue
        row = {name: _plain(features.iloc[i][name]) for name in spec.feature_names}
        query_id = str(cohort.frame[spec.id_column].iloc[i])
        queries.append(Query(query_id=query_id, row=row, current_class=int(label)))
        if n is not None and len(queries) >= n:
            break
    return queries


def require_queries(
    cohort: Cohort, bundle: ClassifierBundle, n: int | None, data: Path | str, doing: str
) -> list[Query]:
    """`plan_queries`, refusing data where nobody is outside the desired class (`doing`: what
    the user asked for, e.g. "evaluate", for the fix)."""
    queries = plan_queries(cohort, bundle, n)
    if not queries:
        raise DataError(
            f"the classifier predicts the desired class for every person in {data}",
            f"{doing} on data with people outside the desired class",
        )
    return queries
