"""SLA timers through the real intake, processor and SQLite store, on a fixed clock: exact due
times, warnings, breaches that escalate once, cadences, pauses.

Events are written here as TicketEvents: a stand-in Jira parser hands each stored delivery its
event, so everything after parsing is the production path.
"""
from datetime import timedelta

import pytest

from plugin import bootstrap
from plugin.domain.ticket import EventKind, TicketEvent

from .conftest import START
from .conftest import deliver_event as deliver

pytestmark = pytest.mark.usefixtures("stand_in_parser")


@pytest.fixture
def container(settings_for, clock):
    return bootstrap.build(settings_for(), clock=clock, clients={})


def critical(kind=EventKind.CREATED, **fields):
    return TicketEvent("jira", kind, "SUP-9", summary="Dashboard down for everyone", customer_tier="enterprise",
                       product_area="payments", **fields)


def timers(container):
    with container.store.transaction() as tx:
        return {t["name"]: t for t in tx.timers_of("jira", "SUP-9")}


def ticket(container):
    with container.store.transaction() as tx:
        return tx.ticket("jira", "SUP-9")


def fire_all(container):
    """What the processor does when it wakes: fire every timer due by now; the number fired."""
    return container.processor.drain()


def next_at(container, name):
    with container.store.reading() as tx:
        return {t["name"]: t["next_at"] for t in tx.timers_of("jira", "SUP-9")}[name]


def test_a_critical_ticket_arms_its_timers_at_exact_times(container):
    deliver(container, critical())
    armed = timers(container)
    assert armed["ack"]["due_at"] == START + timedelta(minutes=15)
    assert armed["ack"]["warn_at"] == START + timedelta(minutes=12)
    assert armed["plan"]["due_at"] == START + timedelta(hours=2)
    assert armed["update"]["recurring"] is True
    # Each timer is scheduled at its next point the matrix reacts to: the ack deadline, since no
    # rule or message reacts to an ack warning; the update cadence's warning sends a reminder.
    assert next_at(container, "ack") == START + timedelta(minutes=15)
    assert next_at(container, "update") == armed["update"]["warn_at"]


def test_an_unacknowledged_critical_ticket_escalates_to_l2_after_15_minutes(container, clock):
    deliver(container, critical())
    clock.advance(timedelta(minutes=14, seconds=59))
    fire_all(container)
    assert ticket(container)["level"] == "L1"
    assert timers(container)["ack"]["warned"] is False      # nothing in the matrix reacts to an ack warning
    clock.advance(timedelta(seconds=1))
    fire_all(container)
    row = ticket(container)
    assert (row["level"], row["owner"]) == ("L2", "payments-eng")
    assert timers(container)["ack"]["state"] == "breached"
    with container.store.transaction() as tx:
        last = tx.timeline("jira", "SUP-9")[-1]
    assert last["event_kind"] == "sla_breached" and last["at"] == START + timedelta(minutes=15)
    assert "missed acknowledgement escalates to L2" in [t["rule"] for t in last["decision"]["trace"]]


def test_a_breach_escalates_once_however_often_the_worker_wakes(container, clock):
    deliver(container, critical())
    clock.advance(timedelta(minutes=16))
    ack_id = timers(container)["ack"]["id"]
    fire_all(container)
    before = ticket(container)["updated_at"]
    assert timers(container)["ack"]["id"] == ack_id and next_at(container, "ack") is None
    clock.advance(timedelta(minutes=1))
    assert fire_all(container) == 0
    assert ticket(container)["updated_at"] == before


def test_an_acknowledged_ticket_does_not_escalate(container, clock):
    deliver(container, critical())
    clock.advance(timedelta(minutes=5))
    deliver(container, critical(EventKind.COMMENTED, comment=_agent_reply()))
    assert timers(container)["ack"]["state"] == "stopped"
    clock.advance(timedelta(minutes=20))
    fire_all(container)
    assert ticket(container)["level"] == "L1"


def test_a_missed_update_is_a_stalled_communication_and_the_cadence_restarts(container, clock):
    deliver(container, critical())
    deliver(container, critical(EventKind.COMMENTED, comment=_agent_reply()))    # acknowledged at 09:00
    clock.advance(timedelta(minutes=30))
    fire_all(container)
    assert ticket(container)["level"] == "L2"
    with container.store.transaction() as tx:
        kinds = [e["event_kind"] for e in tx.timeline("jira", "SUP-9")]
    assert "communication_stalled" in kinds
    assert timers(container)["update"]["due_at"] == START + timedelta(minutes=60)


def test_an_agent_update_restarts_the_cadence(container, clock):
    deliver(container, critical())
    clock.advance(timedelta(minutes=20))
    deliver(container, critical(EventKind.COMMENTED, comment=_agent_reply()))
    assert timers(container)["update"]["due_at"] == START + timedelta(minutes=50)


def test_business_hours_timers_wait_for_opening_and_pause_while_waiting_on_the_customer(container, clock):
    # 09:00 UTC on Monday 2026-11-30 is 04:00 in New York: a high ticket's 1 h ack is due at 10:00 local.
    deliver(container, TicketEvent("jira", EventKind.CREATED, "SUP-9", summary="API unavailable", customer_tier="pro"))
    ack = timers(container)["ack"]
    assert ack["due_at"].isoformat() == "2026-11-30T15:00:00+00:00"
    clock.current = clock.current.replace(hour=14, minute=30)       # 09:30 local: half the hour used
    deliver(container, TicketEvent("jira", EventKind.STATUS_CHANGED, "SUP-9", status="Waiting for customer"))
    assert timers(container)["ack"]["state"] == "paused" and timers(container)["ack"]["due_at"] is None
    clock.current = clock.current.replace(hour=18, minute=0)         # 13:00 local
    deliver(container, TicketEvent("jira", EventKind.STATUS_CHANGED, "SUP-9", status="In Progress"))
    assert timers(container)["ack"]["due_at"].isoformat() == "2026-11-30T18:30:00+00:00"


def test_the_eu_regulator_notice_runs_72_hours_of_real_time_and_never_pauses(container, clock):
    deliver(container, TicketEvent("jira", EventKind.CREATED, "SUP-9", summary="GDPR question",
                                   customer_region="EU", customer_tier="pro"))
    notice = timers(container)["regulator_notice"]
    assert notice["due_at"] == START + timedelta(hours=72) and notice["warn_at"] is None
    deliver(container, TicketEvent("jira", EventKind.STATUS_CHANGED, "SUP-9", status="pending",
                                   customer_region="EU"))
    assert timers(container)["regulator_notice"]["state"] == "running"


def test_an_early_wake_up_fires_nothing(container, clock):
    deliver(container, critical())
    clock.advance(timedelta(minutes=14, seconds=59))
    assert fire_all(container) == 0         # the ack deadline is a second away, the cadence's reminder 9 minutes
    assert ticket(container)["level"] == "L1"


def _agent_reply():
    from plugin.domain.ticket import Comment
    return Comment("We are on it, next update in 30 minutes.", author="agent-1", public=True, by_agent=True)


def test_a_deleted_ticket_stops_every_timer(container, clock):
    deliver(container, critical())
    deliver(container, TicketEvent("jira", EventKind.DELETED, "SUP-9"))
    assert {t["state"] for t in timers(container).values()} == {"stopped"}
    assert {next_at(container, name) for name in timers(container)} == {None}
    clock.advance(timedelta(hours=30))
    assert fire_all(container) == 0


def test_a_warning_something_reacts_to_fires_then_the_deadline_is_next(container, clock):
    deliver(container, critical(EventKind.COMMENTED, comment=_agent_reply()))     # acknowledged at 09:00
    update = timers(container)["update"]
    assert next_at(container, "update") == update["warn_at"] == START + timedelta(minutes=24)
    clock.advance(timedelta(minutes=24))
    assert fire_all(container) == 1
    assert timers(container)["update"]["warned"] is True
    assert next_at(container, "update") == START + timedelta(minutes=30)


def test_timer_events_see_the_customer_attributes_the_field_map_read(container, clock):
    deliver(container, TicketEvent("jira", EventKind.CREATED, "SUP-9", summary="Dashboard down",
                                   custom_fields={"customfield_10050": "Gold"}, components=("Payments",)))
    clock.advance(timedelta(minutes=15))
    fire_all(container)
    row = ticket(container)
    assert row["snapshot"]["customer_tier"] == "enterprise" and row["snapshot"]["product_area"] == "Payments"
    assert (row["level"], row["owner"]) == ("L2", "payments-eng")
