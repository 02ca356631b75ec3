"""Who handles a question: the choice among the officials the store offers, apart from any database.

The store says who could take a question (``Store.assignment_candidates`` for a group,
``Store.department_members`` for a department: active officials in roster order, each with how many
questions they have waiting); these functions choose, and ``open_question`` / ``transfer`` record it.
Supervisors oversee and are never given a question. The rule throughout is **least open work**: the
candidate with the fewest questions waiting, a tie going to roster order (so work spreads as it comes,
and an official back from leave catches up first).
"""

from __future__ import annotations

from collections.abc import Sequence

from storage import AssignmentCandidate


def _workers(candidates: Sequence[AssignmentCandidate]) -> list[AssignmentCandidate]:
    return [c for c in candidates if c.role != "supervisor"]


def _least_busy(pool: Sequence[AssignmentCandidate]) -> int | None:
    # min() keeps the first of equals and the pool is in roster order, so a tie goes to roster order.
    return min(pool, key=lambda c: c.waiting).official_id if pool else None


def choose_assignee(group: Sequence[AssignmentCandidate], department: str) -> int | None:
    """Who gets a new question of a group, given the group's officials and the question's department
    ("" when unknown).

    The group's officials of that department come first (all of the group's officials when none is,
    or the department is unknown); among them the one with the fewest questions waiting; a tie goes to
    roster order. None when the group has no one to give it to.
    """
    workers = _workers(group)
    same_department = [c for c in workers if department and c.department == department]
    return _least_busy(same_department or workers)


def choose_transfer_assignee(
    group: Sequence[AssignmentCandidate],
    members: Sequence[AssignmentCandidate],
    department: str,
) -> int | None:
    """Who gets a question transferred to ``department``, given the officials of the question's group
    and the department's members.

    The group's official of that department when the group has one, else any of the department's
    officials; among them the one with the least open work (fewest questions waiting), a tie going to
    roster order. None when the department has no one.
    """
    in_group = [c for c in _workers(group) if c.department == department]
    return _least_busy(in_group or _workers(members))


def choose_department_assignee(members: Sequence[AssignmentCandidate]) -> int | None:
    """Who gets a question of a group with no official of its own, routed by its department: the
    department's official with the least open work (a tie: roster order); None when it has none."""
    return _least_busy(_workers(members))
