"""The feature spec: what each column means, its range and how a person could change it.

A spec lives in a TOML file beside the data. Every downstream step (classifier, verifiers,
prompts, metrics) reads feature semantics from here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cf_agent.errors import SpecError
from cf_agent.fileio import write_text_atomic

SPEC_SCHEMA_VERSION = 1

FeatureKind = Literal["float", "int", "categorical", "bool"]
# The demo cohort's feature groups and the ones daily behaviour moves directly: a spec's
# defaults, so the demo spec and older specs need not name them.
DEFAULT_GROUPS = ("demographic", "clinical", "wearable", "cgm")
DEFAULT_MODIFIABLE_GROUPS = ("wearable",)
Actionability = Literal["immutable", "increase_only", "decrease_only", "free"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Feature(BaseModel):
    """One column: its type, unit, physiological range and actionability."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="Column name in the data file.")
    kind: FeatureKind = Field(description="float, int, categorical or bool.")
    unit: str = Field(default="", max_length=32, description="Unit shown to people and LLMs.")
    description: str = Field(min_length=1, max_length=200, description="One line on what it is.")
    group: str = Field(
        pattern=NAME_PATTERN, description="One of the spec's groups, e.g. wearable or clinical."
    )
    low: float | None = Field(default=None, description="Lowest physiologically valid value.")
    high: float | None = Field(default=None, description="Highest physiologically valid value.")
    categories: tuple[str, ...] | None = Field(
        default=None, description="Allowed values of a categorical feature, in order."
    )
    actionability: Actionability = Field(
        default="free", description="How an intervention may move this feature."
    )
    max_change: float | None = Field(
        default=None, gt=0, description="Largest realistic change per intervention (numeric)."
    )

    @model_validator(mode="after")
    def _check_domain(self) -> Feature:
        numeric = self.kind in ("float", "int")
        if numeric:
            if self.low is None or self.high is None:
                raise ValueError(
                    f"numeric feature {self.name!r} needs both low and high; "
                    "fix: add its physiological range, e.g. low = 0, high = 100"
                )
            if not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise ValueError(f"{self.name!r}: low and high must be finite numbers")
            if self.low >= self.high:
                raise ValueError(
                    f"{self.name!r}: low ({self.low:g}) must be below high ({self.high:g}); "
                    "fix: swap or correct them"
                )
            if self.categories is not None:
                raise ValueError(f"{self.name!r}: categories are only for kind = 'categorical'")
        else:
            if self.low is not None or self.high is not None:
                raise ValueError(f"{self.name!r}: low/high are only for float and int features")
            if self.max_change is not None:
                raise ValueError(f"{self.name!r}: max_change is only for float and int features")
        if self.kind == "categorical":
            cats = self.categories or ()
            if len(cats) < 2 or len(set(cats)) != len(cats):
                raise ValueError(
                    f"categorical feature {self.name!r} needs at least two distinct categories; "
                    'fix: categories = ["a", "b"]'
                )
        if self.kind == "bool" and self.categories is not None:
            raise ValueError(f"{self.name!r}: a bool feature takes no categories")
        if self.kind == "categorical" and self.actionability in ("increase_only", "decrease_only"):
            raise ValueError(
                f"{self.name!r}: a categorical feature cannot be {self.actionability}; "
                "fix: use 'free' or 'immutable'"
            )
        return self

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("float", "int")

    def reachable(self, factual: float) -> tuple[float, float]:
        """The closed interval one intervention may move this numeric or 0/1 feature to from
        `factual`: its direction, its largest step and its range, all at once; whole numbers
        for int and bool features (the ends rounded inward)."""
        if self.actionability == "immutable":
            return factual, factual
        low = float(self.low) if self.low is not None else 0.0  # bool: 0 or 1
        high = float(self.high) if self.high is not None else 1.0
        if self.actionability == "increase_only":
            low = max(low, factual)
        if self.actionability == "decrease_only":
            high = min(high, factual)
        if self.max_change is not None:
            low, high = max(low, factual - self.max_change), min(high, factual + self.max_change)
        if self.kind != "float":
            low, high = float(math.ceil(low - 1e-9)), float(math.floor(high + 1e-9))
        return low, high

    def describe_range(self) -> str:
        """Human-readable domain, e.g. '40 to 90 years' or 'one of: a, b'."""
        if self.kind == "categorical":
            return "one of: " + ", ".join(self.categories or ())
        if self.kind == "bool":
            return "0 or 1"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low:g} to {self.high:g}{unit}"


class SumRule(BaseModel):
    """parts must add up to total (within tolerance), e.g. sleep stages = total sleep."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sum"] = "sum"
    parts: tuple[str, ...] = Field(min_length=2, description="Features that are summed.")
    total: str = Field(description="Feature that must equal the sum.")
    tolerance: float = Field(default=1.0, ge=0, description="Allowed absolute difference.")
    description: str = Field(default="", description="Why the rule holds.")

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.parts, self.total)

    def violation(self, row: dict[str, Any]) -> str | None:
        """A message an LLM can act on, or None when the row obeys the rule."""
        total = float(sum(float(row[p]) for p in self.parts))
        if abs(total - float(row[self.total])) <= self.tolerance:
            return None
        return (
            f"{' + '.join(self.parts)} must equal {self.total} (within {self.tolerance:g}): "
            f"{total:g} vs {float(row[self.total]):g}"
        )


class OrderRule(BaseModel):
    """left must not exceed right, e.g. resting heart rate <= mean heart rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["less_equal"] = "less_equal"
    left: str = Field(description="Feature that must be the smaller.")
    right: str = Field(description="Feature that must be the larger.")
    description: str = Field(default="", description="Why the rule holds.")

    @property
    def features(self) -> tuple[str, ...]:
        return (self.left, self.right)

    def violation(self, row: dict[str, Any]) -> str | None:
        if float(row[self.left]) <= float(row[self.right]):
            return None
        return (
            f"{self.left} must not exceed {self.right}: "
            f"{float(row[self.left]):g} > {float(row[self.right]):g}"
        )


Rule = Annotated[SumRule | OrderRule, Field(discriminator="kind")]


class FeatureSpec(BaseModel):
    """Everything cf-agent knows about a data set's columns, label and desired outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(default=SPEC_SCHEMA_VERSION, description="Spec file format.")
    name: str = Field(default="cohort", description="Short name of the data set and task.")
    id_column: str = Field(default="person_id", pattern=NAME_PATTERN)
    label: str = Field(pattern=NAME_PATTERN, description="Column holding the class label.")
    classes: dict[int, str] = Field(description="Class value -> what it means.")
    desired_class: int = Field(description="The class a counterfactual should reach.")
    features: tuple[Feature, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(default=())
    groups: tuple[str, ...] = Field(
        default=DEFAULT_GROUPS, min_length=1, description="The feature groups features may name."
    )
    modifiable_groups: tuple[str, ...] = Field(
        default=DEFAULT_MODIFIABLE_GROUPS,
        description="Groups whose (not immutable) features a person moves by what they do day "
        "to day; the evaluation reports changes to them as behaviourally modifiable.",
    )
    other_columns: tuple[str, ...] = Field(
        default=(),
        description="Columns allowed in the data that the model never uses (other labels, notes).",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> FeatureSpec:
        if self.schema_version != SPEC_SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is not supported; "
                f"fix: set schema_version = {SPEC_SCHEMA_VERSION}"
            )
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {dupes}; fix: give each feature once")
        for col in self.other_columns:
            if col in names or col in (self.label, self.id_column):
                raise ValueError(f"other_columns lists {col!r}, which already has a role")
        for col, role in ((self.label, "label"), (self.id_column, "id_column")):
            if col in names:
                raise ValueError(f"{role} {col!r} is also listed as a feature; fix: remove it")
        if len(self.classes) < 2:
            raise ValueError(
                "classes needs at least two entries, e.g. 0 = 'normal', 1 = 'abnormal'"
            )
        if self.desired_class not in self.classes:
            raise ValueError(
                f"desired_class {self.desired_class} is not one of classes "
                f"{sorted(self.classes)}; fix: use one of them"
            )
        for i, feature in enumerate(self.features):
            if feature.group not in self.groups:
                raise ValueError(
                    f"features[{i}].group: {feature.name!r} has group {feature.group!r}, not one "
                    f"of {list(self.groups)}; fix: use one of them, or list it under groups"
                )
        unknown_groups = sorted(set(self.modifiable_groups) - set(self.groups))
        if unknown_groups:
            raise ValueError(
                f"modifiable_groups names {unknown_groups}, not in groups {list(self.groups)}"
            )
        by_name = {f.name: f for f in self.features}
        for i, rule in enumerate(self.rules):
            for feat in rule.features:
                if feat not in by_name:
                    raise ValueError(
                        f"rules[{i}] names unknown feature {feat!r}; "
                        "fix: use a feature listed under [[features]]"
                    )
                if not by_name[feat].is_numeric:
                    raise ValueError(f"rules[{i}] uses non-numeric feature {feat!r}")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def is_modifiable(self, feature: Feature) -> bool:
        """A feature in a modifiable group that the spec lets change."""
        return feature.group in self.modifiable_groups and feature.actionability != "immutable"

    def spec_hash(self) -> str:
        """Stable hash of the spec's content; models and audit events record it.

        Groups left at their defaults are not hashed, so specs written before they could be
        named keep their hash (and their trained bundles).
        """
        defaults = {"groups": DEFAULT_GROUPS, "modifiable_groups": DEFAULT_MODIFIABLE_GROUPS}
        unset = {key for key, value in defaults.items() if getattr(self, key) == value}
        canonical = json.dumps(self.model_dump(mode="json", exclude=unset), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        data["classes"] = {str(k): v for k, v in self.classes.items()}
        return tomli_w.dumps(data)


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid feature spec {source}:"]
    for err in exc.errors()[:10]:
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"])
        loc = loc.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def spec_from_dict(data: dict[str, Any], source: str = "<dict>") -> FeatureSpec:
    """Validate a parsed spec, turning pydantic's errors into one SpecError."""
    try:
        return FeatureSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(
            _format_validation_error(exc, source),
            "correct the fields named above (see docs/architecture.md, 'Feature spec')",
        ) from None


def load_spec(path: Path | str) -> FeatureSpec:
    """Read and validate a TOML spec file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(
            f"spec file not found: {path}", "pass --spec PATH to an existing .toml file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SpecError(f"spec file {path} is not UTF-8 text", "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(
            f"spec file {path} is not valid TOML: {exc}", "fix the TOML syntax"
        ) from None
    return spec_from_dict(data, str(path))


def save_spec(spec: FeatureSpec, path: Path | str) -> None:
    write_text_atomic(path, spec.to_toml())
