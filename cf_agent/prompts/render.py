"""Load prompt templates from files and fill them.

Templates use `{{ name }}` placeholders and no other logic, so a template cannot execute
anything. Values from the data are inserted JSON-encoded inside blocks labelled as data, so
text hidden in a value (e.g. "ignore previous instructions") stays a quoted string.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from cf_agent.data.spec import Feature, FeatureSpec, OrderRule, SumRule
from cf_agent.errors import CfAgentError
from cf_agent.proposers import ChatMessage
from cf_agent.tools.sensitivity import Probes

BUILTIN_PROMPTS = ("zero_shot", "few_shot", "revise", "compact", "compact_revise")
DEFAULT_REVISE = "revise"
HINT_LINES = 3  # the verbose templates' hint block; compact ones show every probe
PLACEHOLDERS = frozenset(
    {
        "current_class",
        "desired_class",
        "feature_lines",
        "rule_lines",
        "person_json",
        "avoid_block",
        "mutable_names",
        "exemplar_block",
        "previous_json",
        "feedback",
        "hint_block",
        "feature_table",
        "p_now",
        "probe_block",
        "previous_compact",
        "feedback_compact",
    }
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


class PromptError(CfAgentError):
    """A prompt template is missing or malformed."""

    exit_code = 9


class PromptTemplate(BaseModel):
    """A system + user message pair with placeholders, and the hash of the file it came from."""

    name: str = Field(description="Built-in name or file path.")
    description: str = Field(default="", description="What the template is for.")
    system: str = Field(description="System message template.")
    user: str = Field(description="User message template.")
    sha256: str = Field(description="Hash of the template file's bytes, recorded in the audit log.")
    revise: str = Field(
        default=DEFAULT_REVISE, description="The revise template that goes with this one."
    )

    def render(self, values: Mapping[str, str]) -> list[ChatMessage]:
        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)

        return [
            {"role": "system", "content": fill(self.system)},
            {"role": "user", "content": fill(self.user)},
        ]


def load_prompt(name_or_path: str) -> PromptTemplate:
    """A built-in template by name (zero_shot, few_shot, revise) or a .toml file by path."""
    if name_or_path in BUILTIN_PROMPTS:
        raw = resources.files("cf_agent.prompts").joinpath(f"{name_or_path}.toml").read_bytes()
        source = name_or_path
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise PromptError(
                f"prompt {name_or_path!r} is neither a built-in nor a file",
                f"use one of {', '.join(BUILTIN_PROMPTS)} or a path to a .toml template",
            )
        raw = path.read_bytes()
        source = str(path)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(
            f"prompt {source} is not valid UTF-8 TOML: {exc}", "fix the file"
        ) from None
    missing = [key for key in ("system", "user") if not isinstance(data.get(key), str)]
    if missing:
        raise PromptError(
            f"prompt {source} lacks {', '.join(missing)}",
            'define system = """...""" and user = """...""" strings',
        )
    unknown = sorted(
        set(_PLACEHOLDER.findall(data["system"] + data["user"])) - PLACEHOLDERS,
    )
    if unknown:
        raise PromptError(
            f"prompt {source} uses unknown placeholders {unknown}",
            f"use only {sorted(PLACEHOLDERS)}",
        )
    return PromptTemplate(
        name=source,
        description=str(data.get("description", "")),
        system=data["system"],
        user=data["user"],
        sha256=hashlib.sha256(raw).hexdigest(),
        revise=str(data.get("revise", DEFAULT_REVISE)),
    )


def load_prompts(prompt: str, revise: str | None = None) -> tuple[PromptTemplate, PromptTemplate]:
    """The first-round template and its revise template (the one it names, unless given)."""
    initial = load_prompt(prompt)
    return initial, load_prompt(revise or initial.revise)


def _fmt(value: float) -> str:
    return f"{value:,.10g}"


def feature_line(feature: Feature) -> str:
    unit = f" ({feature.unit})" if feature.unit else ""
    domain = feature.describe_range()
    change = {
        "immutable": "fixed: must stay as it is",
        "increase_only": "may only increase",
        "decrease_only": "may only decrease",
        "free": "may rise or fall",
    }[feature.actionability]
    if feature.max_change is not None and feature.actionability != "immutable":
        change += f", by at most {_fmt(feature.max_change)}"
    return f"- {feature.name}{unit}: {domain}; {change}"


def _short(value: float) -> str:
    """A number in few tokens: no thousands separators, at most 4 significant decimals."""
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def feature_table(spec: FeatureSpec) -> str:
    """The compact feature table: one line per changeable feature, then the fixed ones.

    'steps 0-40000, +-5000': range, direction and largest step. Units are left out: they
    cost a third of the table's tokens and a small model gains nothing from them.
    """
    lines = []
    for feature in spec.features:
        if feature.actionability == "immutable":
            continue
        if not feature.is_numeric:
            lines.append(f"{feature.name}: {feature.describe_range()}")
            continue
        sign = {"increase_only": "+", "decrease_only": "-", "free": "+-"}[feature.actionability]
        step = f", {sign}{_short(feature.max_change)}" if feature.max_change is not None else ""
        low, high = _short(float(feature.low or 0)), _short(float(feature.high or 0))
        lines.append(f"{feature.name} {low}-{high}{step}")
    fixed = [f.name for f in spec.features if f.actionability == "immutable"]
    if fixed:
        lines.append("fixed: " + ", ".join(fixed))
    return "\n".join(lines)


def probe_block(probes: Probes | None) -> str:
    """Compact probe lines, best first: 'steps 8200->10700/13200: .41/.52' (half-way and
    full move, and p(desired) after each)."""
    if probes is None or not probes.moves:
        return "(no single feature raises it)"
    return "\n".join(
        f"{m.feature} {_short(m.now)}->{_short(m.half)}/{_short(m.to)}: "
        f"{_p(m.p_half)}/{_p(m.p_after)}"
        for m in probes.moves
    )


def _p(value: float) -> str:
    """A probability in three tokens: '.52'."""
    return f"{value:.2f}".removeprefix("0")


def hint_lines(spec: FeatureSpec, probes: Probes | None, top: int = HINT_LINES) -> list[str]:
    """Verbose hints: 'raise steps toward 13,200 steps/day: p(normal) 0.31 -> 0.52'."""
    if probes is None:
        return []
    desired = spec.classes[spec.desired_class]
    lines = []
    for move in probes.moves[:top]:
        verb = "raise" if move.to > move.now else "lower"
        unit = spec.feature(move.feature).unit
        lines.append(
            f"{verb} {move.feature} toward {move.to:,.10g}{' ' + unit if unit else ''}: "
            f"p({desired}) {probes.p_now:.2f} -> {move.p_after:.2f}"
        )
    return lines


def compact_feedback(feedback: str, limit: int = 240) -> str:
    """The verifiers' reasons, cut to a few lines for short prompts."""
    text = " ".join(line.strip("- ").strip() for line in feedback.splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rule_lines(spec: FeatureSpec) -> str:
    if not spec.rules:
        return ""
    lines = ["Rules every realistic person obeys:"]
    for rule in spec.rules:
        if isinstance(rule, SumRule):
            lines.append(f"- {' + '.join(rule.parts)} = {rule.total}")
        elif isinstance(rule, OrderRule):
            lines.append(f"- {rule.left} <= {rule.right}")
    return "\n".join(lines) + "\n"


def features_json(spec: FeatureSpec, row: Mapping[str, Any]) -> str:
    """The row's spec features only, JSON-encoded: other columns (notes...) never reach a prompt."""
    return json.dumps({name: _plain(row.get(name)) for name in spec.feature_names})


def changes_json(spec: FeatureSpec, row: Mapping[str, Any], cf: Mapping[str, Any]) -> str:
    """Only the features a CF changes, JSON-encoded: the compact form answers take too."""
    return json.dumps(
        {
            name: _plain(cf.get(name))
            for name in spec.feature_names
            if name in cf and _plain(cf.get(name)) != _plain(row.get(name))
        }
    )


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def prompt_values(
    spec: FeatureSpec,
    row: Mapping[str, Any],
    current_class: int,
    *,
    previous: Mapping[str, Any] | None = None,
    feedback: str = "",
    probes: Probes | None = None,
    avoid: Sequence[Mapping[str, Any]] = (),
    exemplars: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]] = (),
) -> dict[str, str]:
    """Everything a template may use, already formatted and quoted."""
    mutable = [f.name for f in spec.features if f.actionability != "immutable"]
    avoid_block = ""
    if avoid:
        listed = "\n".join(changes_json(spec, row, cf) for cf in avoid)
        avoid_block = f"\nAlready accepted (propose a different change):\n{listed}\n"
    exemplar_block = (
        "\n".join(
            f"person: {features_json(spec, q)}\nchanges: {changes_json(spec, q, cf)}"
            for q, cf in exemplars
        )
        or "(none yet)"
    )
    hint_block = ""
    if hints := hint_lines(spec, probes):
        hint_block = "\nWhat moves the classifier most from here:\n" + "\n".join(
            f"- {h}" for h in hints
        )
    return {
        "current_class": json.dumps(spec.classes.get(current_class, str(current_class))),
        "desired_class": json.dumps(spec.classes[spec.desired_class]),
        "feature_lines": "\n".join(feature_line(f) for f in spec.features),
        "rule_lines": rule_lines(spec),
        "person_json": features_json(spec, row),
        "avoid_block": avoid_block,
        "mutable_names": ", ".join(mutable),
        "exemplar_block": exemplar_block,
        "previous_json": changes_json(spec, row, previous) if previous else "(no valid JSON)",
        "feedback": feedback or "(none)",
        "hint_block": hint_block,
        "feature_table": feature_table(spec),
        "p_now": _p(probes.p_now) if probes is not None else "?",
        "probe_block": probe_block(probes),
        "previous_compact": changes_json(spec, row, previous) if previous else "(none)",
        "feedback_compact": compact_feedback(feedback) or "(none)",
    }
