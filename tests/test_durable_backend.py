"""The durable_rules backend under the conditions the service meets: many tickets, forked
workers, large matrices."""
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from plugin.domain import conditions as c  # a bare `Test` name would be collected by pytest
from plugin.domain.matrix import Effects, Rule
from plugin.domain.ticket import EventKind, TicketEvent, TicketState
from plugin.engine import Evaluator, durable
from plugin.engine.durable import (
    MAX_RULES,
    RULES_PER_RULESET,
    DurableBackend,
    EngineLimitError,
    limit_problems,
)

STATM = Path("/proc/self/statm")


def rss_bytes() -> int:
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def with_triggers(matrix, count: int):
    """The shipped matrix with `count` triggers, copies of its own under new names."""
    shipped = matrix.triggers
    triggers = tuple(replace(shipped[i % len(shipped)], name=f"trigger {i}") for i in range(count))
    return replace(matrix, triggers=triggers, exceptions=(), stops=())


def ticket(n: int) -> TicketEvent:
    """Every other ticket is an enterprise outage; the rest match nothing."""
    summary = "Checkout is down" if n % 2 else "How do I export a report?"
    return TicketEvent("jira", EventKind.CREATED, f"SUP-{n}", summary=summary,
                       customer_tier="enterprise")


SAMPLE_EVENTS = [
    (ticket(1), TicketState()),
    (ticket(2), TicketState("high", "L1", "support-oncall")),
    (TicketEvent("zendesk", EventKind.CREATED, "77", summary="Safety hazard", labels=("security",)),
     TicketState()),
    (TicketEvent("jira", EventKind.SLA_BREACHED, "SUP-3", timer="plan"),
     TicketState("critical", "L2", "platform-sre")),
    (TicketEvent("zendesk", EventKind.COMMUNICATION_STALLED, "78"),
     TicketState("high", "L1", "support-oncall")),
]


@pytest.mark.skipif(not STATM.exists(), reason="reads the resident set size from /proc")
def test_memory_stays_flat_over_ten_thousand_distinct_tickets(shipped_matrix):
    evaluator = Evaluator(shipped_matrix, "durable")
    severities = []
    for n in range(1, 10_051):
        severities.append(evaluator.evaluate(ticket(n)).severity)
        if n == 1_000:
            after_warm_up = rss_bytes()

    assert rss_bytes() - after_warm_up <= 20 * 1024 * 1024
    assert severities.count("critical") == 5_025
    assert severities.count("normal") == 5_025


def test_rule_whose_any_holds_on_both_branches_is_reported_once(shipped_matrix):
    when = c.Any((c.Test("labels", "contains", "safety"), c.Test("text", "matches", "(?i)safety")))
    either = Rule("safety either way", "trigger", when, Effects(labels=("safety",)))
    matrix = replace(shipped_matrix, triggers=(either,), exceptions=(), stops=())
    both = TicketEvent("jira", EventKind.CREATED, "SUP-1", summary="Safety recall",
                       labels=("safety",))

    assert DurableBackend(matrix).matching(both, TicketState()) == [either]
    assert Evaluator(matrix, "durable").evaluate(both).matched == ("safety either way",)


def exit_code_of(pid: int, timeout: float = 30) -> int:
    """The child's exit code; a child still running after `timeout` seconds is killed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {timeout}s")


# Python 3.12 warns about fork() when other tests have left threads running; the child here
# only touches the engine, whose Host it must create afresh.
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")
def test_forked_worker_gets_its_own_host_and_evaluates(shipped_matrix):
    Evaluator(shipped_matrix, "durable").evaluate(ticket(1))
    parents_host = durable._process_host()

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            decision = Evaluator(shipped_matrix, "durable").evaluate(ticket(3))
            fresh_host = durable._process_host() is not parents_host
            code = 0 if decision.severity == "critical" and fresh_host else 2
        finally:
            os._exit(code)

    assert exit_code_of(pid) == 0


def test_matrix_past_the_rule_limit_is_refused_with_the_way_out(shipped_matrix):
    matrix = with_triggers(shipped_matrix, MAX_RULES + 1)

    [problem] = limit_problems(matrix)
    assert problem.message == (
        f"{MAX_RULES + 1} rules exceed the durable engine's limit of {MAX_RULES}")
    assert "ESCALATOR_ENGINE=python" in problem.fix
    with pytest.raises(EngineLimitError) as raised:
        DurableBackend(matrix)
    assert raised.value.problems[0].message == problem.message


@pytest.mark.parametrize("rules, rulesets", [
    (1, 1),
    (RULES_PER_RULESET, 1),
    (RULES_PER_RULESET + 1, 2),
    (250, 3),
])
def test_rules_are_split_into_rulesets_of_at_most_rules_per_ruleset(
        shipped_matrix, rules, rulesets):
    assert len(DurableBackend(with_triggers(shipped_matrix, rules)).handles) == rulesets


def test_matrix_split_over_several_rulesets_decides_like_the_python_backend(shipped_matrix):
    matrix = with_triggers(shipped_matrix, 250)
    durable_evaluator, python_evaluator = Evaluator(matrix, "durable"), Evaluator(matrix, "python")

    # Copies of the outage trigger sit in the first, second and third ruleset.
    outage = python_evaluator.evaluate(ticket(1)).matched
    assert {"trigger 0", "trigger 110", "trigger 242"} <= set(outage)
    assert len(durable_evaluator.backend.handles) == 3
    for event, state in SAMPLE_EVENTS:
        expected = python_evaluator.evaluate(event, state).as_dict()
        assert durable_evaluator.evaluate(event, state).as_dict() == expected, event


def test_an_event_asks_only_the_rulesets_holding_rules_for_its_kind(shipped_matrix):
    def for_kind(kind: str, count: int):
        return [Rule(f"{kind} {i}", "trigger", c.Test("event", "eq", kind), Effects(labels=(kind,)))
                for i in range(count)]
    created, resolved = for_kind("created", RULES_PER_RULESET), for_kind("resolved", 10)
    # Interleaved in the matrix; the rulesets group them by kind.
    triggers = tuple(resolved[:5] + created + resolved[5:])
    backend = DurableBackend(replace(shipped_matrix, triggers=triggers, exceptions=(), stops=()))
    event = TicketEvent("jira", EventKind.RESOLVED, "SUP-1")

    assert len(backend.handles) == 2
    assert len(backend._handles_by_kind[EventKind.RESOLVED]) == 1
    assert backend.matching(event, TicketState()) == resolved
    assert backend.matching(replace(event, kind=EventKind.UPDATED), TicketState()) == []
