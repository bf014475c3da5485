"""SLA timers as values: planning, firing and scheduling, pure and at exact times."""
from dataclasses import replace
from datetime import timedelta

import pytest

from plugin.domain.decision import Decision
from plugin.domain.ticket import EventKind, TicketEvent
from plugin.domain.timers import (
    BREACHED,
    PAUSED,
    RUNNING,
    STOPPED,
    arm,
    fire,
    interest,
    next_at,
    plan_timers,
)
from plugin.sla import SlaClocks

from .conftest import START

MINUTE = timedelta(minutes=1)


class WallClock:
    """Every second counts: the arithmetic of a 24x7 calendar, written out."""

    def deadline(self, calendar, start, seconds):
        return start + timedelta(seconds=seconds)

    def spent(self, calendar, start, end):
        return int((end - start).total_seconds())


CLOCKS = WallClock()


@pytest.fixture(scope="module")
def critical(shipped_matrix):
    return {t.name: t for t in shipped_matrix.timers["critical"].timers}


def event(kind=EventKind.UPDATED, **fields):
    return TicketEvent("jira", kind, "SUP-1", **fields)


def decision(severity="critical", start=(), stop=()):
    return Decision(severity, "L1", "support-oncall", "", "", start_timers=tuple(start), stop_timers=tuple(stop))


def test_a_new_severity_arms_its_timers_with_their_warnings(shipped_matrix, critical):
    timers = plan_timers({}, event(EventKind.CREATED), decision(start=critical.values()), True, shipped_matrix,
                         CLOCKS, START)
    ack = timers["ack"]
    assert (ack.state, ack.started_at, ack.due_at, ack.warn_at) == (RUNNING, START, START + 15 * MINUTE,
                                                                   START + 12 * MINUTE)
    assert timers["update"].recurring and timers["update"].due_at == START + 30 * MINUTE


def test_an_unchanged_timer_is_the_same_object_so_only_changes_are_written(shipped_matrix, critical):
    armed = plan_timers({}, event(EventKind.CREATED), decision(start=critical.values()), True, shipped_matrix,
                        CLOCKS, START)
    again = plan_timers(armed, event(), decision(), False, shipped_matrix, CLOCKS, START + MINUTE)
    assert all(again[name] is armed[name] for name in armed)


def test_a_stop_stops_a_deadline_and_restarts_a_cadence(shipped_matrix, critical):
    armed = plan_timers({}, event(EventKind.CREATED), decision(start=critical.values()), True, shipped_matrix,
                        CLOCKS, START)
    later = START + 20 * MINUTE
    after = plan_timers(armed, event(EventKind.COMMENTED), decision(stop=("ack", "update")), False, shipped_matrix,
                        CLOCKS, later)
    assert (after["ack"].state, after["ack"].stopped_at) == (STOPPED, later)
    assert (after["update"].state, after["update"].due_at) == (RUNNING, later + 30 * MINUTE)


def test_resolution_cancels_the_cadence_and_deletion_stops_everything(shipped_matrix, critical):
    armed = plan_timers({}, event(EventKind.CREATED), decision(start=critical.values()), True, shipped_matrix,
                        CLOCKS, START)
    resolved = plan_timers(armed, event(EventKind.RESOLVED), decision(stop=("update",)), False, shipped_matrix,
                           CLOCKS, START + MINUTE)
    assert resolved["update"].state == STOPPED
    deleted = plan_timers(armed, event(EventKind.DELETED), decision(), False, shipped_matrix, CLOCKS, START + MINUTE)
    assert {t.state for t in deleted.values()} == {STOPPED}


def test_waiting_on_the_customer_pauses_and_resumes_with_the_time_left(shipped_matrix):
    high = {t.name: t for t in shipped_matrix.timers["high"].timers}
    armed = plan_timers({}, event(EventKind.CREATED), decision("high", start=high.values()), True, shipped_matrix,
                        CLOCKS, START)
    paused = plan_timers(armed, event(status="Waiting for customer"), decision("high"), False, shipped_matrix, CLOCKS,
                         START + 20 * MINUTE)
    assert (paused["ack"].state, paused["ack"].spent_seconds, paused["ack"].due_at) == (PAUSED, 1200, None)
    resumed = plan_timers(paused, event(status="In Progress"), decision("high"), False, shipped_matrix, CLOCKS,
                          START + 90 * MINUTE)
    assert (resumed["ack"].state, resumed["ack"].due_at) == (RUNNING, START + 130 * MINUTE)    # 40 minutes left


def test_a_reopened_ticket_restarts_a_clock_that_breached(shipped_matrix, critical):
    armed = plan_timers({}, event(EventKind.CREATED), decision(start=critical.values()), True, shipped_matrix,
                        CLOCKS, START)
    breached = {**armed, "ack": replace(armed["ack"], state=BREACHED)}
    reopened = plan_timers(breached, event(EventKind.REOPENED), decision(start=critical.values()), False,
                           shipped_matrix, CLOCKS, START + 60 * MINUTE)
    assert (reopened["ack"].state, reopened["ack"].due_at) == (RUNNING, START + 75 * MINUTE)


@pytest.mark.parametrize("minutes, kind, state", [
    (11, None, RUNNING),
    (12, EventKind.SLA_WARNING, RUNNING),
    (15, EventKind.SLA_BREACHED, BREACHED),
])
def test_a_deadline_warns_then_breaches_at_exact_times(critical, minutes, kind, state):
    ack = arm(critical["ack"], 0.8, START, CLOCKS, timer_id=7)
    fired, raised = fire(ack, START + minutes * MINUTE, CLOCKS)
    assert (raised, fired.state, fired.id) == (kind, state, 7)


def test_a_lapsed_cadence_raises_a_stall_and_expects_the_next_update_a_period_later(critical):
    update = arm(critical["update"], 0.8, START, CLOCKS)
    fired, raised = fire(update, START + 30 * MINUTE, CLOCKS)
    assert raised is EventKind.COMMUNICATION_STALLED
    assert (fired.state, fired.fired_at, fired.due_at) == (RUNNING, START + 30 * MINUTE, START + 60 * MINUTE)


def test_only_points_the_matrix_reacts_to_are_scheduled(shipped_matrix, critical):
    wants = interest(shipped_matrix)
    assert wants(EventKind.SLA_BREACHED, "ack") and wants(EventKind.SLA_BREACHED, "plan")
    assert not wants(EventKind.SLA_WARNING, "ack")          # no rule tests an ack warning
    assert wants(EventKind.SLA_WARNING, "update")           # the cadence's warning reminds the owner
    assert not wants(EventKind.SLA_BREACHED, "regulator_notice")
    ack, update = arm(critical["ack"], 0.8, START, CLOCKS), arm(critical["update"], 0.8, START, CLOCKS)
    assert next_at(ack, wants) == START + 15 * MINUTE
    assert next_at(update, wants) == START + 24 * MINUTE
    assert next_at(replace(update, warned=True), wants) == START + 30 * MINUTE
    assert next_at(replace(ack, state=STOPPED), wants) is None


@pytest.mark.parametrize("stopped_after, missed", [(14, False), (15, True), (16, True)])
def test_attainment_comes_from_due_and_stop_times(critical, stopped_after, missed):
    ack = arm(critical["ack"], 0.8, START, CLOCKS)
    stopped = replace(ack, state=STOPPED, stopped_at=START + stopped_after * MINUTE)
    assert stopped.breached_at(START + 60 * MINUTE) is missed
    assert ack.breached_at(START + 14 * MINUTE) is False and ack.breached_at(START + 15 * MINUTE) is True


def test_business_hours_deadlines_come_from_the_calendar(shipped_matrix):
    """The same planning on the shipped business calendar: a high ticket at 04:00 New York waits for opening."""
    high = {t.name: t for t in shipped_matrix.timers["high"].timers}
    timers = plan_timers({}, event(EventKind.CREATED), decision("high", start=high.values()), True, shipped_matrix,
                         SlaClocks(shipped_matrix), START)
    assert timers["ack"].due_at.isoformat() == "2026-11-30T15:00:00+00:00"


@pytest.mark.parametrize("seconds", [0, 1, 899.5, 86_400 * 3])
def test_the_real_time_shortcut_agrees_with_the_calendar_walk(shipped_matrix, seconds):
    from plugin.domain.calendar import BusinessClock
    clocks, walk = SlaClocks(shipped_matrix), BusinessClock(shipped_matrix.calendars["24x7"])
    assert clocks.deadline("24x7", START, seconds) == walk.due_at(START, timedelta(seconds=seconds))
    end = START + timedelta(seconds=seconds)
    assert clocks.spent("24x7", START, end) == int(walk.elapsed(START, end).total_seconds())
    assert clocks.spent("24x7", end, START) == 0
