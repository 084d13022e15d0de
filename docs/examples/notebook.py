"""cf-agent from Python, as in a notebook: a DataFrame, any fitted scikit-learn classifier, a
feature spec; verified counterfactuals back as a DataFrame.

Run: python docs/examples/notebook.py [model]   (default `embedded`; `search` needs no LLM)
"""

import sys
import tempfile
from pathlib import Path

import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from cf_agent import CFAgent, load_spec
from cf_agent.data.demo import write_demo

model = sys.argv[1] if len(sys.argv) > 1 else "embedded"
files = write_demo(Path(tempfile.mkdtemp()), n=600, seed=0)  # demo.csv and demo.toml
spec = load_spec(files.spec)  # or pass the path: CFAgent(files.spec, ...)

df = pd.read_csv(files.csv)
train, test = train_test_split(df, test_size=0.25, random_state=0, stratify=df[spec.label])
features = spec.feature_names
clf = make_pipeline(
    make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["sex", "diabetes_stage"]),
        remainder="passthrough",
    ),
    HistGradientBoostingClassifier(random_state=0),
).fit(train[features], train[spec.label])

agent = CFAgent(spec, clf, model=model, k=1, max_rounds=1, n=3).fit(train)
result = agent.explain(test)

columns = ["query_id", "status", "source", "changes", "plausibility_score"]
print(result.to_frame()[columns].to_string(index=False))
for cf in result.counterfactuals:
    checks = ", ".join(f"{name} {v.score:.2f}" for name, v in cf.verdicts.items())
    print(f"{cf.source}: {'; '.join(c['text'] for c in cf.changes.values())} ({checks})")
print(f"run {result.provenance.run_id}: success {result.summary.success_rate:.0%}")
