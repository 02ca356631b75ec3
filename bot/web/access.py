"""Who may see what in the console: one rule, ``viewer_scope``, so it can follow the chat's policy.

- an official sees the groups they are assigned to and the tickets assigned to them;
- a supervisor sees their jurisdiction, as ``/summary`` shows them in the chat: the groups assigned
  to them on the roster and the questions of their department (``ReportScope.of``);
- an admin sees everything.

Pages and exports narrow this scope further with the filters people choose, never widen it. A ticket
page is shown only when the ticket lies inside the viewer's scope (the same SQL condition as the lists).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from storage import GroupInfo, Jurisdiction, OfficialInfo
from storage.reports import ReportScope


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in official and the groups they are assigned to."""

    official: OfficialInfo
    groups: tuple[GroupInfo, ...]

    @property
    def sees_all_officials(self) -> bool:
        """False for an official, who sees only their own row among officials."""
        return self.official.role != "official"


def viewer_scope(viewer: Viewer) -> ReportScope:
    """Everything ``viewer`` may see, as a report scope."""
    official = viewer.official
    if official.role == "admin":
        return ReportScope()
    if official.role == "supervisor":
        # The chat's rule (handlers/summary.py): the groups assigned to them and their department.
        return ReportScope.of(Jurisdiction(official.id, official.department))
    return ReportScope(group_ids=frozenset(g.id for g in viewer.groups), or_assigned_to=official.id)


def narrowed(
    scope: ReportScope,
    department: str = "",
    group_id: int | None = None,
    official_id: int | None = None,
) -> ReportScope:
    """``scope`` with the filters chosen on a page applied on top (within it, never beyond)."""
    if department:
        allowed = scope.departments
        chosen = frozenset({department})
        scope = replace(scope, departments=chosen & allowed if allowed is not None else chosen)
    if group_id is not None:
        groups = scope.group_ids
        chosen_group = frozenset({group_id})
        scope = replace(
            scope,
            group_ids=chosen_group & groups if groups is not None else chosen_group,
            or_assigned_to=None,
        )
    if official_id is not None:
        scope = replace(scope, official_id=official_id)
    return scope


def visible_groups(viewer: Viewer, all_groups: Iterable[GroupInfo]) -> list[GroupInfo]:
    """The groups offered in the viewer's filters."""
    if viewer.official.role == "official":
        return list(viewer.groups)
    return list(all_groups)
