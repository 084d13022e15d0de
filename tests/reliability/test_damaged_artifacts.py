"""Damaged artifacts: what loads, what warns, what is refused (naming the file and the fix).

The command-line cases (truncated or altered adapter files, a bundle from another scikit-learn
release, a truncated audit log) are in test_bad_input_catalogue.py; here are the ones decided
below the CLI: a journal's torn last line (cut, resumed) against a damaged line in the middle
(refused, file untouched), a bundle from another scikit-learn patch release (warned, loaded),
a damaged study metadata file, and an intact adapter copy (accepted, with or without hashes).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from world import World

from cf_agent.agent.journal import ResultJournal
from cf_agent.errors import OutputError
from cf_agent.models.adapter_files import CARD_KEY, verify_adapter
from cf_agent.models.classifier import BundleVersionWarning, load_bundle
from cf_agent.models.llm.embedded import LocalModelError
from cf_agent.models.llm.local import EMBEDDED_ADAPTER_DIR
from cf_agent.study_dir import prepare_study_dir


def journal_with(path: Path, n: int) -> bytes:
    journal = ResultJournal(path)
    for i in range(n):
        journal.append({"query_id": f"q{i}", "value": i})
    return path.read_bytes()


def test_a_torn_last_journal_line_is_cut_and_the_journal_resumes(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = journal_with(path, 3)
    path.write_bytes(whole + b'{"query_id": "q3", "val')  # killed mid-write

    journal = ResultJournal(path)

    assert list(journal.records) == ["q0", "q1", "q2"]
    assert path.read_bytes() == whole
    journal.append({"query_id": "q3", "value": 3})
    assert list(ResultJournal(path).records) == ["q0", "q1", "q2", "q3"]


@pytest.mark.parametrize(
    "bad_line", [b'{"query_id": "q1", "val\n', b"\xff\xfe not utf-8\n", b'["no", "id"]\n']
)
def test_a_damaged_journal_line_with_records_after_it_is_refused(
    tmp_path: Path, bad_line: bytes
) -> None:
    path = tmp_path / "journal.jsonl"
    lines = journal_with(path, 3).splitlines(keepends=True)
    damaged = lines[0] + bad_line + lines[2]
    path.write_bytes(damaged)

    with pytest.raises(OutputError, match="damaged at line 2") as error:
        ResultJournal(path)

    assert str(path) in error.value.message and error.value.fix
    assert path.read_bytes() == damaged, "nothing after the damage is thrown away"


def test_a_bundle_from_another_patch_release_loads_with_a_warning(
    world: World, model_dir: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(model_dir, tmp_path / "model")
    meta = json.loads((copy / "metadata.json").read_text(encoding="utf-8"))
    major, minor, *_ = meta["versions"]["sklearn"].split(".")
    meta["versions"]["sklearn"] = f"{major}.{minor}.999"
    (copy / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")

    with pytest.warns(BundleVersionWarning, match=r"scikit-learn \d+\.\d+\.999"):
        bundle = load_bundle(copy, world.spec)

    frame = world.cohort.frame[world.spec.feature_names].head(20)
    assert np.array_equal(bundle.predict_proba(frame), world.bundle.predict_proba(frame))


def test_a_damaged_study_metadata_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "eval.json").write_text('{"fingerprint": "ab', encoding="utf-8")

    with pytest.raises(OutputError, match=r"eval\.json is damaged") as error:
        prepare_study_dir(
            tmp_path, "eval.json", "cd", overwrite=False, what="an evaluation", shaped_by="x"
        )
    assert "--overwrite" in error.value.fix


def test_an_intact_adapter_copy_passes_and_a_card_without_hashes_gets_the_file_checks(
    tmp_path: Path,
) -> None:
    copy = shutil.copytree(EMBEDDED_ADAPTER_DIR, tmp_path / "adapter")
    card = json.loads((copy / "card.json").read_text(encoding="utf-8"))
    assert set(card[CARD_KEY]) == {"adapter_model.safetensors", "adapter_config.json"}
    verify_adapter(copy)

    del card[CARD_KEY]  # a card written before hashes were recorded
    (copy / "card.json").write_text(json.dumps(card), encoding="utf-8")
    verify_adapter(copy)
    weights = copy / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(LocalModelError, match="longer than their header says"):
        verify_adapter(copy)
