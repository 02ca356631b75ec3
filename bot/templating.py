"""Reply templates: load ``templates/*.j2``, check them, and render them safely for chat.

Each template is one file whose first lines are a metadata header inside a Jinja comment, so the
whole file stays a valid template::

    {#-
    id: housing_property_fee
    title: 物业收费问题答复
    intent: complaint
    department: 住房和城乡建设局
    keywords: 物业, 物业费, 收费, 停车费
    -#}
    {{ resident_name }}您好，关于您反映的物业收费问题……

The public API::

    library = TemplateLibrary.load()                 # default_template_dir(), or a directory
    library.templates                                # healthy templates, sorted by id
    library.render("ack_received", resident_name="张女士", question_number="Q12", ...)
    library.check()                                  # [TemplateProblem(path, line, message), ...]

Rendering is sandboxed (``SandboxedEnvironment``), strict about undefined names
(``StrictUndefined``) and does not escape HTML (the output is chat text). Only the names in
``TEMPLATE_VARIABLES`` may be used. Values are plain data: a resident's words are passed as
``question_text`` and printed as they are, never compiled as a template. The whole file, header
included, is compiled, so every line number reported by ``check()`` is a line of the file.

A template with any problem (broken header, syntax error, unknown variable, unsafe attribute,
failure to render with sample values) is left out of ``templates`` so the bot never suggests it;
``check()`` reports it by file and line, and ``render()`` of its id raises ``TemplateError``.

This module imports only the standard library and jinja2.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import jinja2.exceptions as jinja_errors
from jinja2 import StrictUndefined, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "DEFAULT_VARIABLES",
    "INTENTS",
    "SAMPLE_VARIABLES",
    "TEMPLATE_VARIABLES",
    "ReplyTemplate",
    "TemplateError",
    "TemplateLibrary",
    "TemplateProblem",
    "default_template_dir",
]

TEMPLATE_VARIABLES: frozenset[str] = frozenset(
    {
        "resident_name",
        "question_number",
        "question_text",
        "due_at",
        "deadline_hours",
        "department",
        "official_name",
        "official_department",
        "group_name",
        "bot_name",
        "hotline",
    }
)
"""The only names a reply template may use."""

DEFAULT_VARIABLES: Mapping[str, object] = {"hotline": "12345"}
"""Values ``render()`` uses when the caller does not pass them."""

SAMPLE_VARIABLES: Mapping[str, object] = {
    "resident_name": "张女士",
    "question_number": "Q12",
    "question_text": "小区门口的路灯坏了一个多月了，什么时候能修好？",
    "due_at": "11月23日 14:30",
    "deadline_hours": 24,
    "department": "住房和城乡建设局",
    "official_name": "李明",
    "official_department": "城市管理局",
    "group_name": "幸福里社区居民群",
    "bot_name": "政务助手",
    "hotline": "12345",
}
"""A realistic value for every allowed variable; ``check()`` renders each template with these."""

INTENTS: frozenset[str] = frozenset({"question", "suggestion", "complaint", "any"})
"""Allowed values of a template's ``intent`` header field."""

TEMPLATE_SUFFIX = ".j2"
ENV_TEMPLATE_DIR = "MINYI_TEMPLATE_DIR"

_HEADER_KEYS = frozenset({"id", "title", "intent", "department", "keywords"})
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_KEYWORD_SPLIT = re.compile(r"[,，、;；]")
_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_VALUE_TYPES = (str, int, float)
_STRING_CACHE_SIZE = 256


class TemplateError(Exception):
    """A template could not be rendered: broken template, unknown variable or bad value.

    The message always names the template (its id, or ``<string>`` for ``render_string``).
    """


@dataclass(frozen=True)
class TemplateProblem:
    """One problem found by ``TemplateLibrary.check()``: the file, its line, and what is wrong.

    ``line`` is 1-based; 0 means the problem concerns the whole file or directory.
    """

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = _display_path(self.path)
        if self.line > 0:
            return f"{where}:{self.line}: {self.message}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ReplyTemplate:
    """A reply template: its metadata header and its Jinja body.

    ``body`` is the template source after the header; ``body_line`` is the file line it starts on.
    """

    id: str
    title: str
    intent: str
    department: str
    keywords: tuple[str, ...]
    body: str
    path: Path
    body_line: int

    @property
    def search_text(self) -> str:
        """Title, keywords and the body's literal text (markup removed), for ranking."""
        literal = " ".join(_MARKUP.sub(" ", self.body).split())
        return " ".join([self.title, " ".join(self.keywords), literal]).strip()


def default_template_dir() -> Path:
    """Where the reply templates live.

    In order: the ``MINYI_TEMPLATE_DIR`` environment variable; ``./templates`` of the source
    checkout this module belongs to (also for editable installs); ``share/minyi/templates`` under
    the install prefix (where pyproject ships them as data-files). When none exists, the checkout
    path is returned so that the caller's error names a sensible place.
    """
    override = os.environ.get(ENV_TEMPLATE_DIR, "").strip()
    if override:
        return Path(override).expanduser()
    checkout = Path(__file__).resolve().parent.parent / "templates"
    if checkout.is_dir():
        return checkout
    prefixes: list[str] = []
    for prefix in (sysconfig.get_path("data"), sys.prefix, sys.base_prefix):
        if prefix and prefix not in prefixes:
            prefixes.append(prefix)
    for prefix in prefixes:
        installed = Path(prefix) / "share" / "minyi" / "templates"
        if installed.is_dir():
            return installed
    return checkout


def _display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    # Templates may use only the documented variables: no range(), lipsum(), dict(), cycler() …
    env.globals.clear()
    return env


@dataclass
class _Header:
    fields: dict[str, str]
    lines: dict[str, int]
    body: str
    body_line: int


def _parse_header(path: Path, source: str) -> tuple[_Header | None, list[TemplateProblem]]:
    """Split a file into its metadata header and body; ``None`` when no header can be read."""
    problems: list[TemplateProblem] = []

    def problem(line: int, message: str) -> None:
        problems.append(TemplateProblem(path, line, message))

    stripped = source.lstrip()
    if not stripped.startswith("{#"):
        problem(1, "missing metadata header: the file must start with a Jinja comment '{#- … -#}'")
        return None, problems
    start = source.index("{#")
    end = source.find("#}", start + 2)
    if end < 0:
        problem(
            source.count("\n", 0, start) + 1, "metadata header comment is never closed with '#}'"
        )
        return None, problems
    inner_start = start + 2
    if source.startswith("-", inner_start):
        inner_start += 1
    inner_end = end - 1 if source[end - 1] == "-" and end - 1 >= inner_start else end
    first_line = source.count("\n", 0, inner_start) + 1

    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    for offset, raw in enumerate(source[inner_start:inner_end].split("\n")):
        lineno = first_line + offset
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.replace("：", ":", 1).partition(":")
        key = key.strip().lower()
        if not sep or not key:
            problem(lineno, f"header line is not 'key: value': {text!r}")
            continue
        if key not in _HEADER_KEYS:
            known = ", ".join(sorted(_HEADER_KEYS))
            problem(lineno, f"unknown header field {key!r} (known: {known})")
            continue
        if key in fields:
            problem(lineno, f"header field {key!r} given twice")
            continue
        fields[key] = value.strip()
        lines[key] = lineno

    rest = source[end + 2 :]
    body = rest.lstrip()
    if body:
        body_line = source.count("\n", 0, end + 2 + (len(rest) - len(body))) + 1
    else:  # point an empty body at the line after the header
        body_line = source.count("\n", 0, end) + 2
    return _Header(fields, lines, body.rstrip(), body_line), problems


def _split_keywords(value: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for word in _KEYWORD_SPLIT.split(value):
        word = word.strip()
        if word:
            seen.setdefault(word, None)
    return tuple(seen)


def _error_line(exc: BaseException, filename: str) -> int:
    """The template line of a runtime error, from the traceback Jinja rewrites to the file."""
    line = 0
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    lineno = getattr(exc, "lineno", None)
    if not line and isinstance(lineno, int):
        line = lineno
    return line


def _describe(exc: BaseException) -> str:
    """A short message for a rendering failure."""
    if isinstance(exc, jinja_errors.SecurityError):
        return f"blocked by the sandbox: {exc}"
    if isinstance(exc, jinja_errors.UndefinedError):
        name = re.search(r"'([^']+)' is undefined", str(exc))
        if name:
            return f"undefined variable {name.group(1)!r}"
        return f"undefined value: {exc}"
    if isinstance(exc, jinja_errors.TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _static_problems(path: Path, ast: nodes.Template) -> list[TemplateProblem]:
    """Unknown variables and underscore attributes, found in the syntax tree (all branches)."""
    problems: list[TemplateProblem] = []
    unknown = meta.find_undeclared_variables(ast) - TEMPLATE_VARIABLES
    reported: set[tuple[str, int]] = set()
    for name_node in ast.find_all(nodes.Name):
        if name_node.name in unknown and name_node.ctx == "load":
            key = (name_node.name, name_node.lineno)
            if key not in reported:
                reported.add(key)
                problems.append(
                    TemplateProblem(
                        path,
                        name_node.lineno,
                        f"unknown variable {name_node.name!r} "
                        f"(allowed: {', '.join(sorted(TEMPLATE_VARIABLES))})",
                    )
                )
    for attr_node in ast.find_all(nodes.Getattr):
        if attr_node.attr.startswith("_"):
            problems.append(
                TemplateProblem(path, attr_node.lineno, f"unsafe attribute {attr_node.attr!r}")
            )
    for item_node in ast.find_all(nodes.Getitem):
        arg = item_node.arg
        if (
            isinstance(arg, nodes.Const)
            and isinstance(arg.value, str)
            and arg.value.startswith("_")
        ):
            problems.append(
                TemplateProblem(path, item_node.lineno, f"unsafe attribute {arg.value!r}")
            )
    return problems


def _plain_values(where: str, variables: Mapping[str, object]) -> dict[str, object]:
    """Check that values are plain data (str, int, float); integral floats become ints."""
    values: dict[str, object] = {}
    for name, value in variables.items():
        if isinstance(value, bool) or not isinstance(value, _VALUE_TYPES):
            raise TemplateError(
                f"{where}: bad value for {name!r}: expected str, int or float, "
                f"got {type(value).__name__}"
            )
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        values[name] = value
    return values


class TemplateLibrary:
    """The reply templates of one directory, parsed, checked and compiled once."""

    def __init__(self, directory: Path) -> None:
        """Load every ``*.j2`` of ``directory``; prefer ``TemplateLibrary.load``."""
        self.directory: Path = Path(directory)
        self.templates: list[ReplyTemplate] = []
        """Healthy templates, sorted by id. Templates with problems are left out."""
        self._by_id: dict[str, ReplyTemplate] = {}
        self._compiled: dict[str, JinjaTemplate] = {}
        self._broken: dict[str, TemplateProblem] = {}
        self._variables: dict[str, frozenset[str]] = {}
        self._problems: list[TemplateProblem] = []
        self._env = _make_environment()
        self._string_cache: dict[str, JinjaTemplate] = {}
        self._load()

    @classmethod
    def load(cls, directory: Path | None = None) -> TemplateLibrary:
        """Parse every ``*.j2`` in ``directory`` (default: ``default_template_dir()``).

        Never raises for a broken template or a missing directory: ``check()`` reports those.
        """
        return cls(Path(directory) if directory is not None else default_template_dir())

    # -- loading ----------------------------------------------------------------------------------

    def _load(self) -> None:
        if not self.directory.is_dir():
            self._problems.append(
                TemplateProblem(self.directory, 0, "template directory not found")
            )
            return
        healthy: list[ReplyTemplate] = []
        for path in sorted(self.directory.glob(f"*{TEMPLATE_SUFFIX}")):
            template, compiled, problems = self._load_file(path)
            self._problems.extend(problems)
            if template is None:
                continue
            if template.id in self._by_id or template.id in self._broken:
                first = self._by_id.get(template.id)
                other = _display_path(first.path) if first else "another file"
                self._problems.append(
                    TemplateProblem(
                        path, 1, f"duplicate template id {template.id!r} (also {other})"
                    )
                )
                continue
            if problems or compiled is None:
                self._broken[template.id] = problems[0]
                continue
            self._by_id[template.id] = template
            self._compiled[template.id] = compiled
            healthy.append(template)
        self.templates = sorted(healthy, key=lambda t: t.id)

    def _load_file(
        self, path: Path
    ) -> tuple[ReplyTemplate | None, JinjaTemplate | None, list[TemplateProblem]]:
        """Parse, check and compile one file; the template is ``None`` if its header is unusable."""
        try:
            source = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            return None, None, [TemplateProblem(path, 0, f"cannot read file: {exc}")]
        source = source.replace("\r\n", "\n")
        header, problems = _parse_header(path, source)
        if header is None:
            return None, None, problems

        fields = header.fields
        header_line = min(header.lines.values(), default=1)
        template_id = fields.get("id", "")
        title = fields.get("title", "")
        intent = fields.get("intent", "any") or "any"
        if not template_id:
            problems.append(TemplateProblem(path, header_line, "header has no 'id'"))
        elif not _ID_PATTERN.match(template_id):
            problems.append(
                TemplateProblem(
                    path,
                    header.lines["id"],
                    f"bad id {template_id!r}: use letters, digits and _ (at most 100 characters)",
                )
            )
        elif template_id != path.stem:
            problems.append(
                TemplateProblem(
                    path,
                    header.lines["id"],
                    f"id {template_id!r} differs from the file name {path.name!r}",
                )
            )
        if not title:
            problems.append(TemplateProblem(path, header_line, "header has no 'title'"))
        if intent not in INTENTS:
            problems.append(
                TemplateProblem(
                    path,
                    header.lines.get("intent", header_line),
                    f"unknown intent {intent!r} (one of {', '.join(sorted(INTENTS))})",
                )
            )
        if not header.body:
            problems.append(TemplateProblem(path, header.body_line, "template body is empty"))
        if problems:
            # A header problem: skip the file, but keep a valid id so render() can explain.
            if template_id and template_id == path.stem and template_id not in self._broken:
                self._broken.setdefault(template_id, problems[0])
            return None, None, problems

        template = ReplyTemplate(
            id=template_id,
            title=title,
            intent=intent,
            department=fields.get("department", ""),
            keywords=_split_keywords(fields.get("keywords", "")),
            body=header.body,
            path=path,
            body_line=header.body_line,
        )
        filename = str(path)
        try:
            ast = self._env.parse(source, name=template_id, filename=filename)
        except jinja_errors.TemplateSyntaxError as exc:
            return template, None, [TemplateProblem(path, exc.lineno, _describe(exc))]
        problems = _static_problems(path, ast)
        if problems:
            return template, None, problems
        self._variables[template_id] = frozenset(meta.find_undeclared_variables(ast))
        code = self._env.compile(ast, name=template_id, filename=filename)
        compiled = self._env.template_class.from_code(self._env, code, self._env.make_globals(None))
        try:
            compiled.render(dict(SAMPLE_VARIABLES))
        except Exception as exc:  # any failure with sample values makes the template unusable
            return (
                template,
                None,
                [TemplateProblem(path, _error_line(exc, filename), _describe(exc))],
            )
        return template, compiled, []

    # -- queries ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.templates)

    def __iter__(self) -> Iterator[ReplyTemplate]:
        return iter(self.templates)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._by_id

    def get(self, template_id: str) -> ReplyTemplate:
        """The healthy template with this id; ``KeyError`` if there is none."""
        try:
            return self._by_id[template_id]
        except KeyError:
            raise KeyError(template_id) from None

    def variables_of(self, template_id: str) -> frozenset[str]:
        """The variables a template uses, so a caller can tell which values it must pass."""
        self.get(template_id)
        return self._variables[template_id]

    def check(self) -> list[TemplateProblem]:
        """Every problem found while loading (header, syntax, variables, sample render), by file."""
        return sorted(self._problems, key=lambda p: (str(p.path), p.line))

    # -- rendering --------------------------------------------------------------------------------

    def render(self, template_id: str, **variables: object) -> str:
        """Render a template to chat text (stripped). ``KeyError`` if the id is unknown.

        Raises ``TemplateError`` naming the template when it is broken, when a variable is not one
        of ``TEMPLATE_VARIABLES``, when a value is not plain data (str, int, float), or when
        rendering fails (e.g. the template uses a variable that was not passed). ``hotline``
        defaults to ``"12345"``; a float such as 24.0 is shown as 24.
        """
        if template_id in self._broken and template_id not in self._compiled:
            raise TemplateError(f"template {template_id!r} is broken: {self._broken[template_id]}")
        compiled = self._compiled.get(template_id)
        if compiled is None:
            raise KeyError(template_id)
        unknown = set(variables) - TEMPLATE_VARIABLES
        if unknown:
            raise TemplateError(
                f"template {template_id!r}: unknown variable(s) {', '.join(sorted(unknown))}"
            )
        values = _plain_values(f"template {template_id!r}", {**DEFAULT_VARIABLES, **variables})
        path = self._by_id[template_id].path
        try:
            return compiled.render(values).strip()
        except Exception as exc:
            line = _error_line(exc, str(path))
            where = f"{_display_path(path)}:{line}" if line else _display_path(path)
            raise TemplateError(f"template {template_id!r} ({where}): {_describe(exc)}") from exc

    def render_string(self, source: str, **variables: object) -> str:
        """Render a trusted template string (bot texts, never residents' words) in the same sandbox.

        Any variable names are allowed; values must still be plain data. Raises ``TemplateError``.
        """
        values = _plain_values("template '<string>'", {**DEFAULT_VARIABLES, **variables})
        try:
            compiled = self._string_cache.get(source)
            if compiled is None:
                compiled = self._env.from_string(source)
                if len(self._string_cache) >= _STRING_CACHE_SIZE:
                    self._string_cache.pop(next(iter(self._string_cache)))
                self._string_cache[source] = compiled
            return compiled.render(values).strip()
        except Exception as exc:
            line = _error_line(exc, "<template>")
            where = f" line {line}" if line else ""
            raise TemplateError(f"template '<string>'{where}: {_describe(exc)}") from exc
