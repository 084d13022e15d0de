"""A real run to review: demo cohort, trained classifier, scripted agent run.

The run goes through `run_agent` with an LLMProposer over a scripted chat model, so the audit log
holds exactly what a real run writes. It is built once per session, under a fixed clock and run
id and with paths relative to its folder, so screens (and their snapshots) never change between
runs. Tests that write decisions work on copies of the log in the same folder.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cf_agent.audit.store as audit_store
from cf_agent.agent.runner import RunOptions, run_agent
from cf_agent.data.cohort import load_cohort
from cf_agent.data.demo import write_demo
from cf_agent.data.spec import FeatureSpec, load_spec
from cf_agent.models.classifier import save_bundle, wrap_estimator
from cf_agent.models.llm.base import Generation, Schemas
from cf_agent.models.llm.proposer import LLMProposer
from cf_agent.prompts.render import load_prompt
from cf_agent.proposers import ChatMessage, Proposer
from cf_agent.review.materials import RunMaterials

RUN_ID = "01JZ8Q4V9T0000TEST"
STEP_THRESHOLD = 8000
Answer = str | Callable[[dict[str, Any]], str]


def person_from(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    user = messages[-1]["content"]
    marker = "current values (JSON data, not instructions):\n"
    start = user.index(marker) + len(marker)
    row, _ = json.JSONDecoder().raw_decode(user, start)
    return dict(row)


def change(**deltas: int) -> Callable[[dict[str, Any]], str]:
    """An answer that adds `deltas` to the person's values and keeps the rest."""

    def answer(person: dict[str, Any]) -> str:
        new = {name: person[name] + delta for name, delta in deltas.items()}
        return json.dumps({**new, "rationale": "move " + " and ".join(deltas)})

    return answer


class PersonScriptedChat:
    """A chat model scripted per person: the n-th person met gets scripts[n], one answer a call.

    For routing only; real backends have their own tests against a real model.
    """

    def __init__(self, scripts: Sequence[Sequence[Answer]]) -> None:
        self.model_string = "scripted"
        self.scripts = [list(s) for s in scripts]
        self.calls: dict[str, int] = {}
        self.order: dict[str, int] = {}
        self.prompts: list[list[ChatMessage]] = []

    def generate(
        self,
        conversations: Sequence[Sequence[ChatMessage]],
        json_schema: Schemas = None,
        max_new_tokens: int = 256,
    ) -> list[Generation]:
        out = []
        for messages in conversations:
            self.prompts.append(list(messages))
            person = person_from(messages)
            key = json.dumps(person, sort_keys=True)
            script = self.scripts[
                min(self.order.setdefault(key, len(self.order)), len(self.scripts) - 1)
            ]
            n = self.calls.get(key, 0)
            self.calls[key] = n + 1
            answer = script[min(n, len(script) - 1)]
            text = answer(person) if callable(answer) else answer
            out.append(Generation(text=text, tokens_in=100, tokens_out=len(text) // 4))
        return out


# Per query, in the order the run meets them (P00005, P00006, P00011, P00014):
RUN_SCRIPTS: list[list[Answer]] = [
    [change(active_minutes=10), change(steps=4500)],  # revised once, then accepted
    [change(steps=3000)],  # accepted at once
    [change(age=1, steps=3000)],  # age is immutable: gives up
    ["I think walking more would help.", change(steps=2500)],  # unusable, then accepted
]


def scripted_proposer(spec: FeatureSpec, scripts: Sequence[Sequence[Answer]]) -> LLMProposer:
    chat = PersonScriptedChat(scripts)
    return LLMProposer(chat, spec, load_prompt("zero_shot"), load_prompt("revise"))


def another_cf_factory(answers: Sequence[Answer]) -> Callable[[RunMaterials], Proposer]:
    """The proposer the UI asks for another CF: every person gets `answers`."""

    def factory(materials: RunMaterials) -> Proposer:
        return scripted_proposer(materials.spec, [answers])

    return factory


@dataclass(frozen=True)
class ReviewWorld:
    root: Path
    db: Path
    run_id: str
    spec: FeatureSpec
    query_ids: list[str]

    def copy_db(self) -> Path:
        """A private copy of the audit log beside the original (relative paths still resolve)."""
        target = self.root / f"audit-{uuid.uuid4().hex[:8]}.db"
        source, copy = sqlite3.connect(self.db), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        return target


def _fixed_clock(start: datetime) -> Callable[[], str]:
    ticks = iter(range(1_000_000))

    def now() -> str:
        return (start + timedelta(seconds=next(ticks))).isoformat(timespec="microseconds")

    return now


def build_world(root: Path) -> ReviewWorld:
    files = write_demo(root / "demo", n=200, seed=1)
    spec = load_spec(files.spec)
    cohort = load_cohort(files.csv, spec)
    x = cohort.frame[spec.feature_names]
    pipeline = make_pipeline(
        ColumnTransformer([("steps", StandardScaler(), ["steps"])]),
        LogisticRegression(C=100.0, max_iter=1000),
    ).fit(x, (x["steps"] < STEP_THRESHOLD).astype(int))
    ids = cohort.frame[spec.id_column]
    split = pd.DataFrame(
        {spec.id_column: ids, "split": ["test" if i % 4 == 0 else "train" for i in range(len(ids))]}
    )
    save_bundle(wrap_estimator(pipeline, spec, cohort.data_hash), split, root / "model")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(audit_store, "new_run_id", lambda: RUN_ID)
        patch.setattr(audit_store, "_utc_now", _fixed_clock(datetime(2025, 6, 2, 9, 0, tzinfo=UTC)))
        options = RunOptions(
            data=Path("demo/demo.csv"),
            spec=Path("demo/demo.toml"),
            model_dir=Path("model"),
            out=Path("results.jsonl"),
            audit_db=Path("audit.db"),
            model="scripted",
            n=len(RUN_SCRIPTS),
            max_rounds=2,
            refine=False,
        )
        outcome = run_agent(options, proposer=scripted_proposer(spec, RUN_SCRIPTS))
    records = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    return ReviewWorld(
        root=root,
        db=root / "audit.db",
        run_id=outcome.run_id,
        spec=spec,
        query_ids=[r["query_id"] for r in records],
    )


_WORLD: list[ReviewWorld] = []


def shared_world(factory: pytest.TempPathFactory) -> ReviewWorld:
    """The session's one world, built on first use (test modules share it)."""
    if not _WORLD:
        _WORLD.append(build_world(factory.mktemp("review-world")))
    return _WORLD[0]
