"""Hypothesis strategies: ticket events and conditions, drawn from small vocabularies so that rules
match often and both backends are exercised on hits, misses and absent fields; and hostile webhook
bodies (any JSON, real payloads with fields dropped, replaced or retyped)."""
import json

from hypothesis import strategies as st

from plugin.domain.conditions import All, Any, Not, Test
from plugin.domain.fields import BOOL, FIELDS, NUMBER, OPERATORS, normalize
from plugin.domain.ticket import Comment, EventKind, Satisfaction, TicketEvent, TicketState

WORDS = ["outage", "down", "Unavailable", "data loss", "refund", "GDPR", "safety", "hazard", "slow",
         "security breach", "root cause", "workaround", "remediation plan", "hello", "502 error", "ÄÖü"]
TIERS = ["enterprise", "Enterprise", "business", "pro", "free", ""]
REGIONS = ["EU", "eu", "US", "APAC", ""]
AREAS = ["payments", "billing", "login", "api", "reporting", ""]
LABELS = ["safety", "security", "personal-data", "vulnerability", "region-EU", "outage", "vip"]
SEVERITIES = ["critical", "high", "normal", "low", ""]
LEVELS = ["L1", "L2", "L3", ""]
TIMERS = ["ack", "plan", "rca", "update", ""]

text = st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)
comments = st.none() | st.builds(Comment, body=text, author=st.sampled_from(["agent1", "cust"]),
                                 public=st.booleans(), by_agent=st.booleans())
satisfactions = st.none() | st.builds(Satisfaction, rating=st.sampled_from(["good", "bad"]),
                                      score=st.none() | st.integers(1, 5).map(float))

events = st.builds(
    TicketEvent,
    platform=st.sampled_from(["jira", "zendesk"]),
    kind=st.sampled_from(list(EventKind)),
    key=st.from_regex(r"SUP-[1-9][0-9]{0,5}", fullmatch=True),
    summary=text, description=text, comment=comments, satisfaction=satisfactions,
    priority=st.sampled_from(["Highest", "High", "urgent", "low", ""]),
    status=st.sampled_from(["Open", "In Progress", "Resolved", ""]),
    labels=st.lists(st.sampled_from(LABELS), max_size=3).map(tuple),
    components=st.lists(st.sampled_from(AREAS[:-1]), max_size=2).map(tuple),
    assignee=st.sampled_from(["", "5b10ac8d82e05b22cc7d4ef5"]),
    timer=st.sampled_from(TIMERS),
    customer_tier=st.sampled_from(TIERS), customer_region=st.sampled_from(REGIONS),
    product_area=st.sampled_from(AREAS), requested_priority=st.sampled_from(["urgent", "high", ""]),
)
states = st.builds(TicketState, severity=st.sampled_from(SEVERITIES), level=st.sampled_from(LEVELS),
                   owner=st.sampled_from(["", "support-oncall", "vp-support"]))

_VALUES = {
    "event": [k.value for k in EventKind], "customer.tier": TIERS[:-1], "customer.region": REGIONS[:-1],
    "product_area": AREAS[:-1], "labels": LABELS, "components": AREAS[:-1], "timer": TIMERS[:-1],
    "current.severity": SEVERITIES[:-1], "current.level": LEVELS[:-1], "priority": ["Highest", "urgent", "low"],
}
_PATTERNS = ["(?i)outage|down", "(?i)\\bdata (loss|lost)\\b", "refund", "^$", "(?i)gdpr|safety", ".*", "5\\d\\d"]


@st.composite
def tests(draw):
    name = draw(st.sampled_from(sorted(FIELDS)))
    kind = FIELDS[name].kind
    op = draw(st.sampled_from(sorted(OPERATORS[kind])))
    pool = _VALUES.get(name, WORDS)
    if op == "matches":
        return Test(name, op, draw(st.sampled_from(_PATTERNS)))
    if op == "exists":
        return Test(name, op, draw(st.booleans()))
    if kind == NUMBER:
        return Test(name, op, float(draw(st.integers(1, 5))))
    if kind == BOOL:
        return Test(name, op, draw(st.booleans()))
    if op in ("in", "not_in", "contains_any"):
        values = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        return Test(name, op, tuple(normalize(v) for v in values))
    return Test(name, op, normalize(draw(st.sampled_from(pool))))


conditions = st.recursive(
    tests(),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: All(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: Any(tuple(xs))),
        inner.map(Not),
    ),
    max_leaves=6,
)


# -- hostile webhook bodies -----------------------------------------------------------------------------

# Every code point, lone UTF-16 halves and NUL included: a JSON string can escape any of them.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
numbers = (st.integers() | st.integers(min_value=-(10**80), max_value=10**80)
           | st.floats(allow_nan=True, allow_infinity=True))
json_scalars = st.none() | st.booleans() | numbers | any_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=16,
)


def paths(value, prefix=()):
    """Every path to a value inside decoded JSON, the value itself first."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from paths(child, (*prefix, key))


def retyped(value):
    """The value as another JSON type, as a sender with the wrong schema would send it."""
    if isinstance(value, str):
        return st.sampled_from([len(value), [value], {"value": value}, value.encode("utf-8", "replace").hex(), None])
    if isinstance(value, bool | int | float):
        return st.sampled_from([str(value), [value], not value, {"value": value}])
    if isinstance(value, list):
        return st.sampled_from([{str(i): item for i, item in enumerate(value)}, " ".join(map(str, value)), value[:1]])
    if isinstance(value, dict):
        return st.sampled_from([list(value.values()), list(value), str(value)])
    return st.sampled_from([0, "", [], {}])


@st.composite
def mutated(draw, payload):
    """A real payload with a few places dropped, replaced by random JSON or retyped."""
    copy = json.loads(json.dumps(payload))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(copy))[1:] or [()]))
        if not where:
            return draw(json_values)
        parent = copy
        for step in where[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["drop", "replace", "retype"]))
        if action == "drop":
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(json_values if action == "replace" else retyped(parent[where[-1]]))
    return copy
