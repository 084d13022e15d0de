"""The bad-input catalogue: every case gets a clear message with a fix, its category's exit
code, no traceback, and leaves no output behind. One parametrised test runs them all
through the real `cf-agent` entry point.

Exit codes: 1 other, 2 usage, 3 spec, 4 data, 5 model file, 6 output, 7 backend,
8 audit, 9 prompt, 10 unknown model string.
"""

from __future__ import annotations

import json
import resource
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from cf_agent.cli import main
from cf_agent.data.demo import write_demo
from cf_agent.services import train_and_save


@dataclass(frozen=True)
class Base:
    data: Path
    spec: Path
    stress_spec: Path
    model: Path

    def csv_lines(self) -> list[str]:
        return self.data.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("catalogue")
    files = write_demo(root / "data", n=300, seed=5)
    train_and_save(files.csv, files.spec, root / "model", "logreg", 0.25, 0)
    return Base(files.csv, files.spec, files.stress_spec, root / "model")


Setup = Callable[[Base, Path], list[str]]


def train_with(data: Path, spec: Path, case: Path) -> list[str]:
    return ["train", "--data", str(data), "--spec", str(spec), "--out", str(case / "out")]


def run_with(b: Base, case: Path, *extra: str, data: Path | None = None) -> list[str]:
    return [
        "run", "--data", str(data or b.data), "--spec", str(b.spec), "--classifier", str(b.model),
        "--out", str(case / "out" / "r.jsonl"), *extra,
    ]  # fmt: skip


def csv_case(edit: Callable[[list[str]], list[str] | bytes]) -> Setup:
    """Train on a copy of the demo CSV changed by `edit` (lines in, lines or raw bytes out)."""

    def setup(b: Base, case: Path) -> list[str]:
        edited = edit(b.csv_lines())
        path = case / "data.csv"
        if isinstance(edited, bytes):
            path.write_bytes(edited)
        else:
            path.write_text("\n".join(edited) + "\n", encoding="utf-8")
        return train_with(path, b.spec, case)

    return setup


def cell(lines: list[str], row: int, column: str, value: str) -> list[str]:
    header = lines[0].split(",")
    fields = lines[row].split(",")
    fields[header.index(column)] = value
    return [*lines[:row], ",".join(fields), *lines[row + 1 :]]


def spec_case(edit: Callable[[str], str]) -> Setup:
    def setup(b: Base, case: Path) -> list[str]:
        path = case / "spec.toml"
        path.write_text(edit(b.spec.read_text(encoding="utf-8")), encoding="utf-8")
        return train_with(b.data, path, case)

    return setup


def model_case(edit: Callable[[Path], None]) -> Setup:
    def setup(b: Base, case: Path) -> list[str]:
        model = case / "model"
        model.mkdir()
        for f in b.model.iterdir():
            (model / f.name).write_bytes(f.read_bytes())
        edit(model)
        return ["run", "--data", str(b.data), "--spec", str(b.spec), "--classifier", str(model),
                "--out", str(case / "out" / "r.jsonl")]  # fmt: skip

    return setup


def audit_case(content: Callable[[Path], None]) -> Setup:
    def setup(b: Base, case: Path) -> list[str]:
        db = case / "audit.db"
        content(db)
        return ["audit", "verify", "--db", str(db)]

    return setup


def foreign_db(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE patients (id INTEGER)")
    conn.close()


def newer_db(path: Path) -> None:
    from cf_agent.audit.store import AuditStore

    AuditStore(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')")
    conn.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to compare
    conn.close()


def unwritable(b: Base, case: Path) -> list[str]:
    (case / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    return ["run", "--data", str(b.data), "--spec", str(b.spec), "--classifier", str(b.model),
            "--out", str(case / "blocker" / "r.jsonl")]  # fmt: skip


def existing_output(b: Base, case: Path) -> list[str]:
    (case / "out").mkdir()
    (case / "out" / "r.jsonl").write_text("keep me\n", encoding="utf-8")
    return run_with(b, case)


def fake_model_dir(b: Base, case: Path) -> list[str]:
    (case / "hf").mkdir()
    (case / "hf" / "config.json").write_text("{}", encoding="utf-8")
    return run_with(b, case, "--model", f"hf:{case / 'hf'}@{case / 'no-adapter'}")


def damaged_adapter(damage: Callable[[Path], None]) -> Setup:
    """`run` with an hf: model and a copy of the shipped adapter, damaged by `damage`."""

    def setup(b: Base, case: Path) -> list[str]:
        from cf_agent.models.llm.local import EMBEDDED_ADAPTER_DIR

        (case / "hf").mkdir()
        (case / "hf" / "config.json").write_text("{}", encoding="utf-8")
        shutil.copytree(EMBEDDED_ADAPTER_DIR, case / "adapter")
        damage(case / "adapter")
        return run_with(b, case, "--model", f"hf:{case / 'hf'}@{case / 'adapter'}")

    return setup


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the tensor data: the header still parses
    path.write_bytes(bytes(data))


def other_sklearn(model: Path) -> None:
    meta = json.loads((model / "metadata.json").read_text(encoding="utf-8"))
    meta["versions"]["sklearn"] = "0.24.2"
    (model / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")


def truncated_audit(path: Path) -> None:
    from cf_agent.audit.store import AuditStore

    with AuditStore(path) as store:
        run = store.start_run("run", "m", "p", "h", {})
        for i in range(400):
            store.append(run, "proposal", {"text": "x" * 200}, query_id=str(i))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")  # checkpoint: one self-contained file
    conn.close()
    truncate(path, 0.6)


CASES: list[tuple[str, Setup, int, str]] = [
    # data files
    ("data-missing", lambda b, c: train_with(c / "none.csv", b.spec, c), 4, "not found"),
    ("data-empty", csv_case(lambda lines: b""), 4, "empty"),
    ("data-header-only", csv_case(lambda lines: lines[:1]), 4, "no data rows"),
    ("data-truncated", csv_case(lambda lines: [*lines[:50], lines[50][:20]]), 4, "row 50"),
    ("data-utf16", csv_case(lambda lines: "\n".join(lines).encode("utf-16")), 4, "UTF-8"),
    ("data-missing-column",
     csv_case(lambda lines: [",".join(x.split(",")[:-3] + x.split(",")[-2:]) for x in lines]),
     4, "missing"),
    ("data-extra-column", csv_case(lambda lines: [lines[0] + ",shoe_size"]
                                   + [x + ",42" for x in lines[1:]]), 4, "shoe_size"),
    ("data-nan", csv_case(lambda lines: cell(lines, 3, "steps", "NaN")), 4, "'steps'"),
    ("data-inf", csv_case(lambda lines: cell(lines, 4, "bmi", "inf")), 4, "'bmi'"),
    ("data-text-in-number", csv_case(lambda lines: cell(lines, 5, "hba1c", "high")), 4, "'hba1c'"),
    ("data-out-of-range", csv_case(lambda lines: cell(lines, 6, "age", "12")), 4, "'age'"),
    ("data-fractional-int", csv_case(lambda lines: cell(lines, 7, "steps", "812.5")), 4, "whole"),
    ("data-unknown-category",
     csv_case(lambda lines: cell(lines, 8, "sex", "robot")), 4, "'sex'"),
    ("data-bad-label", csv_case(lambda lines: cell(lines, 9, "abnormal_glucose", "7")),
     4, "abnormal_glucose"),
    ("data-duplicate-ids", csv_case(lambda lines: [*lines, lines[1]]), 4, "duplicate"),
    ("data-wrong-extension",
     lambda b, c: train_with(Path(str(b.data).replace(".csv", ".xlsx")), b.spec, c), 4, ".xlsx"),
    # specs
    ("spec-missing", lambda b, c: train_with(b.data, c / "none.toml", c), 3, "not found"),
    ("spec-bad-toml", spec_case(lambda s: s + "\n[[features]\n"), 3, "not valid TOML"),
    ("spec-low-above-high", spec_case(lambda s: s.replace("high = 90.0", "high = 30.0", 1)),
     3, "must be below high"),
    ("spec-unknown-kind", spec_case(lambda s: s.replace('kind = "float"', 'kind = "real"', 1)),
     3, "kind"),
    ("spec-desired-class", spec_case(lambda s: s.replace("desired_class = 0", "desired_class = 5")),
     3, "desired_class 5"),
    ("spec-contradicts-data",
     spec_case(lambda s: s.replace('name = "steps"', 'name = "steps_per_day"')), 4, "steps"),
    # model files
    ("model-missing",
     lambda b, c: ["run", "--data", str(b.data), "--spec", str(b.spec), "--classifier",
                   str(c / "none"), "--out", str(c / "out" / "r.jsonl")], 5, "none"),
    ("model-corrupt", model_case(lambda m: (m / "model.joblib").write_bytes(b"\x00garbage")),
     5, "model"),
    ("model-metadata-not-json", model_case(lambda m: (m / "metadata.json").write_text("{oops")),
     5, "metadata"),
    ("model-other-spec",
     lambda b, c: ["run", "--data", str(b.data), "--spec", str(b.stress_spec), "--classifier",
                   str(b.model), "--out", str(c / "out" / "r.jsonl")], 5, "spec"),
    # options
    ("unknown-model-string", lambda b, c: run_with(b, c, "--model", "gpt-17"), 10, "gpt-17"),
    ("hf-model-missing", lambda b, c: run_with(b, c, "--model", f"hf:{c / 'nomodel'}"), 7,
     "model folder not found"),
    ("missing-adapter", fake_model_dir, 7, "adapter"),
    ("adapter-weights-truncated",
     damaged_adapter(lambda a: truncate(a / "adapter_model.safetensors", 0.5)), 7,
     "adapter_model.safetensors are truncated"),
    ("adapter-weights-altered",
     damaged_adapter(lambda a: flip_byte(a / "adapter_model.safetensors")), 7,
     "adapter_model.safetensors does not match the hash in"),
    ("adapter-config-altered",
     damaged_adapter(lambda a: (a / "adapter_config.json").write_text(
         (a / "adapter_config.json").read_text().replace('"r": 16', '"r": 8'))), 7,
     "adapter_config.json does not match the hash in"),
    ("adapter-config-not-json",
     damaged_adapter(lambda a: truncate(a / "adapter_config.json", 0.5)), 7,
     "adapter_config.json cannot be read as JSON"),
    ("model-other-sklearn-release", model_case(other_sklearn), 5, "scikit-learn 0.24.2"),
    ("unknown-prompt", lambda b, c: run_with(b, c, "--prompt", "socratic"), 9, "socratic"),
    ("bad-output-format", lambda b, c: [*run_with(b, c)[:-1], str(c / "out" / "r.xlsx")], 6,
     "output format"),
    ("output-exists", existing_output, 6, "already exists"),
    ("output-unwritable", unwritable, 6, "cannot write"),
    ("bad-k", lambda b, c: run_with(b, c, "--k", "0"), 2, "--k"),
    ("bad-train-kind", lambda b, c: [*train_with(b.data, b.spec, c), "--kind", "xgb"], 1, "xgb"),
    ("bad-test-size", lambda b, c: [*train_with(b.data, b.spec, c), "--test-size", "1.5"], 1,
     "test-size"),
    ("demo-too-small", lambda b, c: ["data", "demo", "--n", "3", "--out", str(c / "out")], 4,
     "50"),
    # audit files
    ("audit-missing", lambda b, c: ["audit", "verify", "--db", str(c / "none.db")], 8,
     "not found"),
    ("audit-not-sqlite", audit_case(lambda p: p.write_text("not a database")), 8, "audit.db"),
    ("audit-foreign-db", audit_case(foreign_db), 8, "audit.db"),
    ("audit-newer-schema", audit_case(newer_db), 8, "m999_from_the_future"),
    ("audit-truncated", audit_case(truncated_audit), 8, "audit.db is damaged"),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "code", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_input(
    base: Base,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setup: Setup,
    code: int,
    message: str,
) -> None:
    args = setup(base, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setattr(sys, "argv", ["cf-agent", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == code, err
    assert message in err, err
    assert "Traceback" not in err
    if code != 2:
        assert "fix:" in err or "Try" in err, err
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a failed command must leave no output and change no input"


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_disk_full_while_writing_leaves_no_partial_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes every write past 64 KiB fail, as a full disk does."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    import signal

    result = subprocess.run(
        [sys.executable, "-c",
         "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
         "from cf_agent.cli import main; main()",
         "data", "demo", "--n", "2000", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, preexec_fn=limit, timeout=120,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert signal.SIGXFSZ  # the child ignores it, so write() fails with EFBIG instead
    assert result.returncode == 6, result.stderr
    assert "cannot write" in result.stderr and "fix:" in result.stderr
    assert list((tmp_path / "out").glob("*")) == []
