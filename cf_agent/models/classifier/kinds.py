"""The classifier kinds `cf-agent train` and the augmentation study fit (a light module: options
models import it without loading scikit-learn)."""

from __future__ import annotations

from typing import Literal

ModelKind = Literal["gbm", "logreg", "rf", "mlp"]
