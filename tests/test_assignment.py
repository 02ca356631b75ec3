"""The assignment choice on its own: who gets a new question of a group, and who gets a transfer."""

from __future__ import annotations

from handlers.assignment import choose_assignee, choose_transfer_assignee
from storage import AssignmentCandidate

HOUSING, TRANSPORT = "住房和城乡建设局", "交通运输局"


def official(official_id, department, waiting=0, role="official"):
    return AssignmentCandidate(official_id, department, role, waiting)


def test_the_questions_department_comes_first_even_when_busier():
    group = [official(1, HOUSING, waiting=0), official(2, TRANSPORT, waiting=5)]
    assert choose_assignee(group, TRANSPORT) == 2


def test_among_the_department_the_least_busy_gets_it():
    group = [official(1, TRANSPORT, waiting=3), official(2, HOUSING), official(3, TRANSPORT, 1)]
    assert choose_assignee(group, TRANSPORT) == 3


def test_a_tie_goes_to_roster_order():
    group = [official(4, HOUSING, waiting=2), official(7, HOUSING, waiting=2)]
    assert choose_assignee(group, HOUSING) == 4
    assert choose_assignee(list(reversed(group)), HOUSING) == 7  # the order given is roster order


def test_without_a_known_or_present_department_the_least_busy_of_the_group():
    group = [official(1, HOUSING, waiting=2), official(2, TRANSPORT, waiting=1)]
    assert choose_assignee(group, "") == 2
    assert choose_assignee(group, "生态环境局") == 2


def test_supervisors_are_never_given_a_question():
    supervisor = official(9, HOUSING, waiting=0, role="supervisor")
    assert choose_assignee([supervisor, official(1, TRANSPORT, waiting=4)], HOUSING) == 1
    assert choose_assignee([supervisor], HOUSING) is None
    assert choose_assignee([], HOUSING) is None


def test_a_transfer_goes_to_the_groups_official_of_that_department():
    group = [official(1, HOUSING), official(2, TRANSPORT, 4), official(3, TRANSPORT, 2)]
    members = [official(2, TRANSPORT, 4), official(3, TRANSPORT, 2), official(5, TRANSPORT)]
    assert choose_transfer_assignee(group, members, TRANSPORT) == 3  # least busy in the group


def test_else_a_transfer_goes_to_the_departments_least_busy_official():
    group = [official(1, HOUSING)]  # idle, but of another department
    members = [
        official(8, TRANSPORT, role="supervisor"),
        official(6, TRANSPORT, waiting=9),
        official(5, TRANSPORT, waiting=0),
        official(4, TRANSPORT, waiting=0),
    ]
    # Least open work, never a supervisor; of the two idle ones, the first in roster order.
    assert choose_transfer_assignee(group, members, TRANSPORT) == 5


def test_a_transfer_to_a_department_without_officials_has_no_assignee():
    group = [official(1, HOUSING), official(9, TRANSPORT, role="supervisor")]
    members = [official(9, TRANSPORT, role="supervisor")]
    assert choose_transfer_assignee(group, members, TRANSPORT) is None
    assert choose_transfer_assignee([], [], TRANSPORT) is None
