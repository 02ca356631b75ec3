"""bot.toml: defaults, environment overrides, and one clear line for every mistake."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import ConfigError, load_settings
from tests_support import REPO


def write(tmp_path, text):
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_is_valid_and_documented():
    settings = load_settings(REPO / "bot.toml", env={})
    assert settings.bot.name == "政务助手" and "政务助手" in settings.bot.aliases
    assert settings.bot.timezone == "Asia/Shanghai" and settings.bot.answer_deadline_hours == 24
    assert settings.database.url == "sqlite:///data/minyi.db"
    digest, brief = settings.schedule.every("digest"), settings.schedule.every("brief")
    assert digest is not None and digest.label() == "每天 18:00"
    assert brief is not None and brief.label() == "每周一 09:00"
    assert {o.role for o in settings.officials} == {"official", "supervisor"}
    lines = (REPO / "bot.toml").read_text(encoding="utf-8").splitlines()
    keys = [i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]
    # Every key of the top sections carries a comment right above it (or above its block).
    top_keys = [
        i for i in keys if i < next(j for j, ln in enumerate(lines) if ln == "[[departments]]")
    ]
    for i in top_keys:
        above = lines[i - 1].strip()
        assert above.startswith("#") or "=" in above, lines[i]


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.source == "(defaults)" and settings.officials == []


def test_environment_overrides_keys(tmp_path):
    path = write(tmp_path, "[bot]\nanswer_deadline_hours = 24\n")
    env = {
        "MINYI_BOT__ANSWER_DEADLINE_HOURS": "48",
        "MINYI_DATABASE__URL": "postgresql://app:secret@127.0.0.1/minyi",
        "MINYI_BOT__ALIASES": '["小政"]',
    }
    settings = load_settings(path, env=env)
    assert settings.bot.answer_deadline_hours == 48
    assert settings.database.url.endswith("/minyi")
    assert settings.bot.aliases == ["政务助手", "小政"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[bot]\ntimezone = "Mars/Olympus"\n', "bot.timezone: unknown time zone 'Mars/Olympus'"),
        (
            "[bot]\nanswer_deadline_hours = -1\n",
            "bot.answer_deadline_hours: Input should be greater than 0",
        ),
        ("[bot]\ncolour = 1\n", "bot.colour: unknown key"),
        ('[[officials]]\nname = "A"\nidentities = ["qq:1"]\n', "officials.0.identities"),
        ("[bot\n", "not valid TOML"),
        ('[database]\nurl = "postgresql://u:hunter2@h/db"\n', "holds a password"),
        ('[schedule]\ndigest = "每天 25:00"\n', "schedule.digest: 无法识别的时间「每天 25:00」"),
        ('[schedule]\nbrief = "周八 09:00"\n', "schedule.brief: 无法识别的时间「周八 09:00」"),
    ],
)
def test_mistakes_give_one_line_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message and "hunter2" not in message


def test_a_bad_environment_value_names_the_variable(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match="environment MINYI_BOT__ANSWER_DEADLINE_HOURS"):
        load_settings(path, env={"MINYI_BOT__ANSWER_DEADLINE_HOURS": "soon"})


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = write(tmp_path, '[bot]\ntimezone = "Nowhere/Land"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(path), "report"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "bot.timezone" in result.stderr and str(path) in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(tmp_path / "nope.toml"), "report"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such configuration file" in missing.stderr


def test_nearby_groups_are_read_from_bot_toml():
    from bot.config import OpinionSection

    opinion = OpinionSection.model_validate(
        {"nearby_groups": [["test:a", "test:b"], ["test:b", "test:c"], ["test:d"]]}
    )
    assert opinion.nearby("test:b") == ["test:a", "test:c"]
    assert opinion.nearby("test:a") == ["test:b"] and opinion.nearby("test:e") == []
    with pytest.raises(ValueError, match="platform:id"):
        OpinionSection.model_validate({"nearby_groups": [["xingfuli"]]})
    # The shipped bot.toml lists none: no group has neighbours until an administrator says so.
    assert load_settings(REPO / "bot.toml", env={}).opinion.nearby_groups == []
