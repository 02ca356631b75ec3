"""Tests for bot.templating: the shipped reply templates, reporting broken ones, safe rendering."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bot.templating import (
    INTENTS,
    SAMPLE_VARIABLES,
    TEMPLATE_VARIABLES,
    ReplyTemplate,
    TemplateError,
    TemplateLibrary,
    TemplateProblem,
    default_template_dir,
)

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO / "templates"
CATEGORIES_CSV = REPO.parent / "shared" / "data" / "taidi2020" / "categories.csv"
MAX_RENDERED_CHARS = 300

# Department names as configured in bot.toml; an empty department means "general".
DEPARTMENTS = {
    "住房和城乡建设局",
    "生态环境局",
    "交通运输局",
    "教育局",
    "人力资源和社会保障局",
    "商务局",
    "卫生健康委员会",
    "城市管理局",
    "市场监督管理局",
    "公安局",
}

# taidi2020 一级分类 → departments whose templates answer that area.
AREA_DEPARTMENTS = {
    "城乡建设": {"住房和城乡建设局", "城市管理局"},
    "环境保护": {"生态环境局"},
    "交通运输": {"交通运输局"},
    "教育文体": {"教育局"},
    "劳动和社会保障": {"人力资源和社会保障局"},
    "商贸旅游": {"商务局", "市场监督管理局"},
    "卫生计生": {"卫生健康委员会"},
}

CJK = re.compile(r"[\u4e00-\u9fff]")

HEADER = """{{#-
id: {id}
title: 测试模板
intent: any
department:
keywords: 测试, 模板
-#}}
"""
"""A valid seven-line header; the body of a test template starts on line 8."""


def write_template(directory: Path, template_id: str, body: str, header: str = HEADER) -> Path:
    """Write ``<directory>/<template_id>.j2`` with a header and ``body``; return its path."""
    path = directory / f"{template_id}.j2"
    path.write_text(header.format(id=template_id) + body, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    return TemplateLibrary.load(TEMPLATE_DIR)


@pytest.fixture(autouse=True)
def _no_template_dir_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINYI_TEMPLATE_DIR", raising=False)


# -- the shipped templates ---------------------------------------------------------------------


def test_shipped_templates_all_load(library: TemplateLibrary) -> None:
    files = sorted(TEMPLATE_DIR.glob("*.j2"))
    assert len(files) >= 30
    assert len(library.templates) == len(files), "a shipped template was skipped"
    ids = [t.id for t in library.templates]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {t.id for t in library.templates} == {f.stem for f in files}
    for template in library.templates:
        assert template.path.stem == template.id


def test_shipped_templates_check_clean(library: TemplateLibrary) -> None:
    assert [str(p) for p in library.check()] == []


def test_shipped_headers_are_complete(library: TemplateLibrary) -> None:
    for template in library.templates:
        assert template.title, template.id
        assert template.intent in INTENTS, template.id
        assert template.department in DEPARTMENTS | {""}, template.id
        assert 5 <= len(template.keywords) <= 12, template.id
        assert template.body_line > 1, template.id
        assert template.body.strip(), template.id


def test_shipped_templates_use_only_allowed_variables(library: TemplateLibrary) -> None:
    for template in library.templates:
        assert library.variables_of(template.id) <= TEMPLATE_VARIABLES, template.id


@pytest.mark.parametrize("template_id", sorted(p.stem for p in TEMPLATE_DIR.glob("*.j2")))
def test_each_shipped_template_renders(library: TemplateLibrary, template_id: str) -> None:
    text = library.render(template_id, **SAMPLE_VARIABLES)
    assert text
    assert len(CJK.findall(text)) > 20
    assert len(text) < MAX_RENDERED_CHARS
    for leftover in ("{{", "}}", "{%", "%}", "{#", "#}", "None"):
        assert leftover not in text
    assert text == text.strip()


def test_general_templates_read_well_without_a_department(library: TemplateLibrary) -> None:
    values = {**SAMPLE_VARIABLES, "department": "", "official_department": ""}
    for template in library.templates:
        if template.department == "":
            text = library.render(template.id, **values)
            assert "转交办理" not in text.replace("转交相关职能部门办理", "")
            assert "（）" not in text


def test_required_kinds_exist(library: TemplateLibrary) -> None:
    kinds = {
        "ack_received": "已收到",
        "transfer_department": "转交",
        "delay_apology": "抱歉",
        "rating_request": "评价",
        "suggestion_thanks": "建议",
    }
    for template_id, word in kinds.items():
        template = library.get(template_id)
        assert template.department == ""
        assert word in library.render(template_id, **SAMPLE_VARIABLES)
    assert library.get("suggestion_thanks").intent == "suggestion"


def test_every_taidi_area_has_a_template(library: TemplateLibrary) -> None:
    departments = {t.department for t in library.templates}
    for area, answering in AREA_DEPARTMENTS.items():
        assert departments & answering, f"no template for {area}"
    assert departments >= DEPARTMENTS


@pytest.mark.data
def test_areas_match_the_taidi_categories() -> None:
    if not CATEGORIES_CSV.exists():
        pytest.skip(f"{CATEGORIES_CSV} not available")
    with CATEGORIES_CSV.open(encoding="utf-8") as handle:
        areas = {row["一级分类"] for row in csv.DictReader(handle)}
    assert set(AREA_DEPARTMENTS) <= areas


def test_keywords_and_search_text(library: TemplateLibrary) -> None:
    template = library.get("housing_property_fee")
    assert isinstance(template, ReplyTemplate)
    assert template.department == "住房和城乡建设局"
    assert "物业费" in template.keywords
    text = template.search_text
    assert template.title in text and "物业费" in text and "物业收费" in text
    assert "{{" not in text and "resident_name" not in text


def test_get_unknown_id_raises_key_error(library: TemplateLibrary) -> None:
    with pytest.raises(KeyError):
        library.get("no_such_template")
    with pytest.raises(KeyError):
        library.render("no_such_template", **SAMPLE_VARIABLES)
    assert "ack_received" in library
    assert "no_such_template" not in library
    assert len(library) == len(library.templates)


# -- broken templates are reported by file and line --------------------------------------------


def test_syntax_error_reported_with_file_line(tmp_path: Path) -> None:
    path = write_template(
        tmp_path, "broken_syntax", "{{ resident_name }}您好！\n第二行\n{% for %}\n"
    )
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert len(problems) == 1
    assert problems[0].path == path
    assert problems[0].line == 10
    assert "broken_syntax.j2:10:" in str(problems[0])
    assert library.templates == []
    with pytest.raises(TemplateError, match="broken_syntax"):
        library.render("broken_syntax", **SAMPLE_VARIABLES)


def test_unclosed_block_reported(tmp_path: Path) -> None:
    write_template(tmp_path, "unclosed", "{% if resident_name %}\n您好\n")
    problems = TemplateLibrary.load(tmp_path).check()
    assert len(problems) == 1
    assert problems[0].line >= 8
    assert "unclosed.j2:" in str(problems[0])


def test_unknown_variable_reported_with_line(tmp_path: Path) -> None:
    body = "{{ resident_name }}您好！\n{% if department %}已转交{% endif %}\n请联系{{ phone }}。\n"
    path = write_template(tmp_path, "unknown_var", body)
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert [(p.path, p.line) for p in problems] == [(path, 10)]
    assert "phone" in problems[0].message
    assert str(problems[0]).endswith(problems[0].message)
    with pytest.raises(TemplateError, match="unknown_var"):
        library.render("unknown_var", **SAMPLE_VARIABLES)


def test_unknown_variable_in_branch_not_taken_is_still_reported(tmp_path: Path) -> None:
    write_template(
        tmp_path, "branch", "您好\n{% if not resident_name %}\n{{ nickname }}\n{% endif %}"
    )
    problems = TemplateLibrary.load(tmp_path).check()
    assert [p.line for p in problems] == [10]


def test_globals_are_not_available(tmp_path: Path) -> None:
    write_template(tmp_path, "uses_range", "{% for i in range(3) %}{{ i }}{% endfor %}")
    problems = TemplateLibrary.load(tmp_path).check()
    assert len(problems) == 1 and "range" in problems[0].message and problems[0].line == 8


def test_missing_header_id_reported(tmp_path: Path) -> None:
    header = "{{#-\ntitle: 没有编号\nintent: any\n-#}}\n"
    path = write_template(tmp_path, "no_id", "您好\n", header=header)
    write_template(tmp_path, "fine", "{{ resident_name }}您好！")
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert len(problems) == 1
    assert problems[0].path == path and problems[0].line == 2
    assert "'id'" in problems[0].message
    assert "no_id.j2:2:" in str(problems[0])
    assert [t.id for t in library.templates] == ["fine"]


def test_missing_header_reported(tmp_path: Path) -> None:
    (tmp_path / "bare.j2").write_text("{{ resident_name }}您好\n", encoding="utf-8")
    problems = TemplateLibrary.load(tmp_path).check()
    assert len(problems) == 1 and problems[0].line == 1 and "header" in problems[0].message


def test_unclosed_header_reported(tmp_path: Path) -> None:
    (tmp_path / "open.j2").write_text("{#-\nid: open\ntitle: x\n您好\n", encoding="utf-8")
    problems = TemplateLibrary.load(tmp_path).check()
    assert len(problems) == 1 and problems[0].line == 1


@pytest.mark.parametrize(
    ("header", "line", "fragment"),
    [
        ("{{#-\nid: {id}\ntitle: t\nintent: praise\n-#}}\n", 4, "intent"),
        ("{{#-\nid: other_name\ntitle: t\n-#}}\n", 2, "file name"),
        ("{{#-\nid: {id}\n-#}}\n", 2, "'title'"),
        ("{{#-\nid: {id}\ntitle: t\ncolour: red\n-#}}\n", 4, "colour"),
        ("{{#-\nid: {id}\ntitle: t\nno colon here\n-#}}\n", 4, "key: value"),
        ("{{#-\nid: {id}\ntitle: t\ntitle: u\n-#}}\n", 4, "twice"),
        ("{{#-\nid: {id}\ntitle: t\n-#}}\n\n\n", 5, "empty"),
    ],
)
def test_header_problems(tmp_path: Path, header: str, line: int, fragment: str) -> None:
    path = write_template(tmp_path, "bad_header", "您好" if fragment != "empty" else "", header)
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].path == path
    assert problems[0].line == line
    assert fragment in problems[0].message
    assert library.templates == []


def test_one_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    write_template(tmp_path, "a_good", "{{ resident_name }}您好")
    write_template(tmp_path, "b_bad", "{% endif %}")
    write_template(tmp_path, "c_good", "您好，编号{{ question_number }}")
    library = TemplateLibrary.load(tmp_path)
    assert [t.id for t in library.templates] == ["a_good", "c_good"]
    assert [p.path.name for p in library.check()] == ["b_bad.j2"]


def test_missing_directory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    library = TemplateLibrary.load(tmp_path / "nowhere")
    assert library.templates == []
    problems = library.check()
    assert len(problems) == 1 and "not found" in problems[0].message
    assert str(problems[0]).endswith("not found")


def test_problem_str_format() -> None:
    problem = TemplateProblem(Path("templates/x.j2"), 7, "未定义的变量 foo")
    assert str(problem) == "templates/x.j2:7: 未定义的变量 foo"


def test_crlf_and_bom_files_load(tmp_path: Path) -> None:
    source = HEADER.format(id="windows") + "{{ resident_name }}您好\n"
    (tmp_path / "windows.j2").write_bytes(b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode())
    library = TemplateLibrary.load(tmp_path)
    assert library.check() == []
    assert library.get("windows").body_line == 8
    assert library.render("windows", resident_name="王先生") == "王先生您好"


# -- rendering: strict, plain data, sandboxed --------------------------------------------------


def test_render_missing_variable_raises_template_error(tmp_path: Path) -> None:
    write_template(tmp_path, "needs_name", "第一行\n{{ resident_name }}您好")
    library = TemplateLibrary.load(tmp_path)
    with pytest.raises(TemplateError, match=r"needs_name.*needs_name\.j2:9.*resident_name"):
        library.render("needs_name")


def test_render_rejects_unknown_variables_and_bad_values(tmp_path: Path) -> None:
    write_template(tmp_path, "greet", "{{ resident_name }}您好")
    library = TemplateLibrary.load(tmp_path)
    with pytest.raises(TemplateError, match=r"greet.*phone"):
        library.render("greet", resident_name="王先生", phone="138")
    with pytest.raises(TemplateError, match=r"greet.*resident_name"):
        library.render("greet", resident_name=object())
    with pytest.raises(TemplateError, match="greet"):
        library.render("greet", resident_name=None)


def test_render_defaults_and_numbers(tmp_path: Path) -> None:
    write_template(tmp_path, "hours", "{{ deadline_hours }}小时内答复，热线{{ hotline }}")
    library = TemplateLibrary.load(tmp_path)
    assert library.render("hours", deadline_hours=24.0) == "24小时内答复，热线12345"
    assert (
        library.render("hours", deadline_hours=1.5, hotline="96110") == "1.5小时内答复，热线96110"
    )


def test_render_output_is_stripped_and_not_escaped(tmp_path: Path) -> None:
    write_template(tmp_path, "plain", "\n\n  {{ resident_name }}您好 <b>&</b>  \n\n")
    library = TemplateLibrary.load(tmp_path)
    assert library.render("plain", resident_name="A&B<c>") == "A&B<c>您好 <b>&</b>"


def test_resident_text_with_jinja_syntax_renders_literally(tmp_path: Path) -> None:
    write_template(tmp_path, "echo", "您的问题：{{ question_text }}")
    library = TemplateLibrary.load(tmp_path)
    nasty = "{{ 7*7 }} {% for %} {# x #} {{ ''.__class__ }}"
    assert library.render("echo", question_text=nasty) == f"您的问题：{nasty}"
    assert library.render_string("{{ question_text }}", question_text=nasty) == nasty


def test_sandbox_blocks_dunder_attribute_statically(tmp_path: Path) -> None:
    path = write_template(tmp_path, "leak", "您好\n{{ ''.__class__ }}\n")
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert [(p.path, p.line) for p in problems] == [(path, 9)]
    assert "__class__" in problems[0].message
    with pytest.raises(TemplateError, match="leak"):
        library.render("leak", **SAMPLE_VARIABLES)


def test_sandbox_blocks_attr_filter_at_runtime(tmp_path: Path) -> None:
    path = write_template(tmp_path, "sneaky", "您好\n\n{{ resident_name | attr('__class__') }}")
    write_template(tmp_path, "chained", "{{ resident_name | attr('__class__') | attr('__mro__') }}")
    library = TemplateLibrary.load(tmp_path)
    problems = library.check()
    assert [(p.path.name, p.line) for p in problems] == [("chained.j2", 8), ("sneaky.j2", 10)]
    assert problems[1].path == path
    assert "sandbox" in problems[1].message
    for template_id in ("sneaky", "chained"):
        with pytest.raises(TemplateError, match=template_id):
            library.render(template_id, **SAMPLE_VARIABLES)


def test_sandbox_blocks_getitem_dunder(tmp_path: Path) -> None:
    write_template(tmp_path, "item", "{{ resident_name['__class__'] }}")
    problems = TemplateLibrary.load(tmp_path).check()
    assert len(problems) == 1 and problems[0].line == 8


def test_render_string(library: TemplateLibrary) -> None:
    assert library.render_string("  {{ n }}条新留言 ", n=3) == "3条新留言"
    with pytest.raises(TemplateError, match="<string>"):
        library.render_string("{{ missing }}")
    with pytest.raises(TemplateError, match="<string>"):
        library.render_string("{% for %}")
    with pytest.raises(TemplateError, match="<string>"):
        library.render_string("{{ name.__class__.__mro__ }}", name="x")


# -- where the templates are found -------------------------------------------------------------


def test_default_template_dir_is_the_repo_templates() -> None:
    assert default_template_dir().resolve() == TEMPLATE_DIR.resolve()
    assert len(TemplateLibrary.load().templates) == len(list(TEMPLATE_DIR.glob("*.j2")))


def test_env_var_overrides_template_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_template(tmp_path, "only_one", "{{ resident_name }}您好")
    monkeypatch.setenv("MINYI_TEMPLATE_DIR", str(tmp_path))
    assert default_template_dir() == tmp_path
    library = TemplateLibrary.load()
    assert library.directory == tmp_path
    assert [t.id for t in library.templates] == ["only_one"]


def test_installed_copy_finds_share_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.templating as templating

    site = tmp_path / "lib" / "site-packages" / "bot"
    site.mkdir(parents=True)
    shared = tmp_path / "share" / "minyi" / "templates"
    shared.mkdir(parents=True)
    monkeypatch.setattr(templating, "__file__", str(site / "templating.py"))
    monkeypatch.setattr(templating.sysconfig, "get_path", lambda name: str(tmp_path))
    assert default_template_dir() == shared
