"""Core statements run on the driver's own cursor: the group message path's hot statements.

SQLAlchemy Core spends 40–60 µs around each execution (an execution context, the parameters
processed position by position, a result object) against 5–15 µs for the driver itself. A group
message runs a few such statements (the message's INSERT, the early warning's tally, a suggestion's
entry), so their overhead cost more than their SQL. A ``DriverStatement`` compiles a Core statement
once per dialect and runs it on the DB-API cursor of the SQLAlchemy ``Connection`` it is given (that
of the session's transaction, ``storage.base.core``), with what Core would have done around it kept:

- the values go through the same bind processors Core applies (``UTCDateTime`` to UTC — naive on
  SQLite, then SQLite's own datetime text —, ``CleanString``'s cut, booleans), each value once, so
  what is stored is exactly what Core stores; literal values and an INSERT's scalar column defaults
  are processed once, at compile time;
- the result columns go through Core's result processors (SQLite's datetime text back to a datetime);
- ``before_cursor_execute`` / ``after_cursor_execute`` listeners hear each statement (the benchmarks
  count statements by them; they get no execution context);
- a driver error goes through the ``Connection``'s own error handling: wrapped as SQLAlchemy's
  ``DBAPIError`` subclasses (``StoreUnavailable`` is told from them) and, for a lost connection, the
  connection invalidated, as after a Core statement.

Only for statements whose every value is bound at execution (no expanding ``IN``) and, for an INSERT,
whose unnamed columns have scalar defaults or none: the compiler refuses others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as one dialect runs it."""

    sql: str
    positions: tuple[str, ...] | None
    """The parameters' names in order, for a positional driver (SQLite's ``?``); None for a named
    one (psycopg's ``%(name)s``)."""
    processors: tuple[tuple[str, Processor], ...]
    """The bind processors of the values given at execution."""
    constants: Mapping[str, Any]
    """Values fixed at compile time (literals, scalar defaults), processed already."""
    results: tuple[Processor | None, ...] | None
    """A processor per result column, or None when no column needs one."""


class DriverStatement:
    """A Core statement compiled once per dialect and run on the driver's cursor (module docstring).

    ``keys``: for an INSERT, the columns the caller gives values for (the statement's VALUES), as
    Core would infer them from the first execution's parameters."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self.keys = list(keys)
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()

    def rows(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement with ``values``; its result rows, values processed as Core's are."""
        compiled = self._compiled.get(connection.dialect) or self._compile(connection.dialect)
        cursor = self._execute(connection, compiled, values)
        try:
            found = cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()
        if compiled.results is None:
            return found
        return [
            tuple(
                value if p is None else p(value)
                for p, value in zip(compiled.results, row, strict=True)
            )
            for row in found
        ]

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first result row, or None."""
        found = self.rows(connection, values)
        return found[0] if found else None

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first result row, or None."""
        row = self.first(connection, values)
        return None if row is None else row[0]

    def _execute(
        self, connection: Connection, compiled: _Compiled, values: Mapping[str, Any]
    ) -> Any:
        if not connection.in_transaction():
            # Core would begin one (SQLite's driver runs in autocommit: storage/database.py): the
            # hot paths always run in their session's transaction, so this is a caller's mistake.
            raise RuntimeError("a DriverStatement runs in a transaction (storage.base.core)")
        bound = {**values, **compiled.constants}
        for name, process in compiled.processors:
            bound[name] = process(bound[name])
        parameters: Any = (
            bound if compiled.positions is None else tuple(bound[n] for n in compiled.positions)
        )
        sql = compiled.sql
        cursor = None
        try:
            cursor = connection.connection.cursor()
            # The listeners Core would call (statements are counted by them); no execution context.
            heard = connection._has_events or connection.engine._has_events
            if heard:
                for listen in connection.dispatch.before_cursor_execute:
                    sql, parameters = listen(connection, cursor, sql, parameters, None, False)
            cursor.execute(sql, parameters)
            if heard:
                connection.dispatch.after_cursor_execute(
                    connection, cursor, sql, parameters, None, False
                )
        except BaseException as error:
            if cursor is not None:
                cursor.close()
            # Core's own handling: the driver's error wrapped (OperationalError, IntegrityError …)
            # and a lost connection invalidated, exactly as after a Core statement.
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
        return cursor

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.keys or None)
        given = set(self.keys)
        names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
        constants: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            if bind.expanding:
                raise ValueError(f"an expanding parameter cannot be compiled once: {name}")
            if bind.value is not None and not bind.required:
                constants[name] = bind.value
        if getattr(compiled, "update_prefetch", None):
            raise ValueError("an UPDATE whose columns change by a Python onupdate")
        for column in getattr(compiled, "insert_prefetch", ()):
            default = column.default
            if default is None or not default.is_scalar:
                raise ValueError(f"column {column.key} needs a default computed per row")
            constants[column.key] = default.arg
        processors = compiled._bind_processors
        constants = {
            name: processors[name](value) if name in processors else value
            for name, value in constants.items()
            if name not in given
        }
        results = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns
        )
        made = _Compiled(
            sql=compiled.string,
            positions=tuple(names) if compiled.positional else None,
            processors=tuple(
                (name, processors[name])
                for name in dict.fromkeys(names)
                if name in processors and name not in constants
            ),
            constants=constants,
            results=results if any(results) else None,
        )
        self._compiled[dialect] = made
        return made
