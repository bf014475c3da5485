"""Seeded incidents of a made-up customer base, as the webhook deliveries Jira and Zendesk would send.

All randomness comes from one random.Random(seed) and Faker instances seeded from the same seed,
so a seed gives the same deliveries byte for byte. Faker only fills pools while the world is
built: it is far too slow to call per delivery.
"""
from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from faker import Faker

from .payloads import ZENDESK_ACCOUNT_ID, Customer, Person, Ticket, render

REGION_ZONES = {"EU": ZoneInfo("Europe/Berlin"), "US": ZoneInfo("America/New_York"),
                "APAC": ZoneInfo("Asia/Singapore")}
REGION_LOCALES = {"EU": ("de_DE", "fr_FR", "nl_NL", "en_GB"), "US": ("en_US",), "APAC": ("en_IN", "en_AU")}
REGION_CITIES = {"EU": ("Berlin", "Munich", "Paris", "Lyon", "Amsterdam", "Dublin", "Madrid", "Vienna"),
                 "US": ("New York", "Chicago", "Austin", "Denver", "Seattle", "Boston", "Atlanta"),
                 "APAC": ("Singapore", "Sydney", "Melbourne", "Tokyo", "Bangalore", "Auckland")}
# Of 40 customers. Enterprises open tickets often, free accounts rarely.
TIER_COUNTS = {"enterprise": 6, "business": 12, "pro": 14, "free": 8}
TIER_ACTIVITY = {"enterprise": 3.0, "business": 1.6, "pro": 1.0, "free": 0.5}
REGION_COUNTS = {"EU": 16, "US": 17, "APAC": 7}
TEAM_SIZES = {"support-oncall": 8, "payments-eng": 4, "identity-eng": 4, "platform-sre": 5, "data-eng": 3,
              "security": 3}
AREA_TEAMS = {"payments": "payments-eng", "billing": "payments-eng", "login": "identity-eng",
              "sso": "identity-eng", "api": "platform-sre", "reporting": "data-eng", "mobile": "platform-sre"}
# Medians of an agent's response in minutes, scaled by the team's pace. Drawn lognormal, so
# some critical tickets miss a 15-minute acknowledgement target.
ACK_MEDIAN = {"critical": 8, "high": 25, "normal": 90, "low": 240}
TEAM_PACE = {"support-oncall": 1.0, "payments-eng": 1.3, "identity-eng": 1.5, "platform-sre": 0.9,
             "data-eng": 1.6, "security": 1.1}
SEVERITIES = ("low", "normal", "high", "critical")
FOLLOW_UP_SLACK = timedelta(days=7)   # how far past the window late incidents' follow-ups may run
REOPEN_RATE, CSAT_RATE, BURST_RATE = 0.05, 0.35, 0.7
ZENDESK_EVENTS_WEBHOOK, ZENDESK_TRIGGER_WEBHOOK = "01HX3Q8M2VYQ7J5K9B4W6N1C0D", "01HX3Q9T7RZ2F8D3G5H6J7K8M9"


@dataclass(frozen=True)
class Delivery:
    """One webhook request: when it arrives, for which platform, its headers and exact body."""
    at: datetime
    platform: str
    headers: dict[str, str]
    body: bytes

    def to_json(self) -> dict:
        """One JSONL record; the body is embedded as a JSON object, not a string."""
        return {"at": self.at.isoformat(timespec="milliseconds"), "platform": self.platform,
                "headers": dict(self.headers), "body": json.loads(self.body)}

    @classmethod
    def from_json(cls, record: dict) -> Delivery:
        """The delivery of a JSONL record; an object body is re-encoded canonically."""
        body = record["body"]
        raw = body.encode() if isinstance(body, str) else canonical_json(body)
        return cls(datetime.fromisoformat(record["at"]).astimezone(UTC), record["platform"],
                   dict(record["headers"]), raw)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical_json(payload: object) -> bytes:
    """Bytes that depend only on the payload's content: json.dumps(payload, sort_keys=True, separators=(",", ":"))."""
    return _CANONICAL.encode(payload).encode()


def write_jsonl(deliveries: Iterable[Delivery], path: str | Path) -> None:
    """Write one delivery per line."""
    with open(path, "wb") as out:
        for delivery in deliveries:
            out.write(canonical_json(delivery.to_json()) + b"\n")


def read_jsonl(path: str | Path) -> list[Delivery]:
    """The deliveries of a JSONL file, blank lines skipped."""
    with open(path, encoding="utf-8") as lines:
        return [Delivery.from_json(json.loads(line)) for line in lines if line.strip()]


# -- the world ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    customers: tuple[Customer, ...]
    channels: dict[str, float]                 # by customer: which platform they file tickets on
    agents: dict[str, tuple[Person, ...]]      # by team
    colleagues: dict[str, tuple[str, ...]]     # names customers mention, by region
    addresses: tuple[str, ...]                 # public IPs for security reports


def build_world(seed: int) -> World:
    """The customers and agents `generate(seed, ...)` works with."""
    return _world(random.Random(seed), seed)


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _pool(seed: int, locales: Sequence[str], method: str, count: int) -> tuple[str, ...]:
    """`count` distinct values of a Faker method, drawn in turn from the locales' instances."""
    # Instance seeds only, never Faker.seed(); cached instances are re-seeded on every use.
    fakers = [_faker(locale) for locale in locales]
    for faker in fakers:
        faker.seed_instance(f"{seed}:{faker.locales[0]}:{method}")
    draw = _full_name if method == "name" else lambda faker: getattr(faker, method)()
    values: dict[str, None] = {}
    for i in range(count * 10):
        if len(values) == count:
            break
        values[draw(fakers[i % len(fakers)])] = None
    return tuple(values)


def _full_name(faker: Faker) -> str:
    # Faker's name() adds titles ("Dr", "Dipl.-Ing.") that nobody signs a ticket with.
    return f"{faker.first_name()} {faker.last_name()}"


def _world(rng: random.Random, seed: int) -> World:
    names = {region: _pool(seed, locales, "name", 60) for region, locales in REGION_LOCALES.items()}
    companies = {region: list(_pool(seed, locales, "company", max(REGION_COUNTS.values())))
                 for region, locales in REGION_LOCALES.items()}
    staff = list(_pool(seed, ("en_US", "en_GB", "de_DE", "en_IN"), "name", 40))
    agents = {team: tuple(_agent(rng, staff.pop(), team) for _ in range(size)) for team, size in TEAM_SIZES.items()}
    managers = [_agent(rng, staff.pop(), "account-management") for _ in range(6)]
    tiers = [tier for tier, count in TIER_COUNTS.items() for _ in range(count)]
    regions = [region for region, count in REGION_COUNTS.items() for _ in range(count)]
    rng.shuffle(tiers)
    rng.shuffle(regions)
    customers = tuple(_customer(rng, companies[region].pop(), tier, region, names[region], managers)
                      for tier, region in zip(tiers, regions, strict=True))
    channels = {customer.name: rng.random() for customer in customers}
    return World(customers, channels, agents, names, _pool(seed, ("en_US",), "ipv4_public", 60))


def _customer(rng: random.Random, company: str, tier: str, region: str, names: Sequence[str],
              managers: list[Person]) -> Customer:
    domain = _slug(company) + ".example.com"
    contacts = tuple(_contact(rng, rng.choice(names), domain) for _ in range(rng.randint(2, 4)))
    manager = rng.choice(managers) if tier in ("enterprise", "business") else None
    return Customer(company, tier, region, contacts, manager, _zendesk_id(rng))


def _contact(rng: random.Random, name: str, domain: str) -> Person:
    # Service Management portal customers have `qm:` account ids.
    return Person(name, f"{_slug(name, '.')}@{domain}", f"qm:{_uuid(rng.getrandbits(128))}", _zendesk_id(rng))


def _agent(rng: random.Random, name: str, team: str) -> Person:
    return Person(name, f"{_slug(name, '.')}@example.com", f"5b10{rng.getrandbits(80):020x}", _zendesk_id(rng), team)


def _zendesk_id(rng: random.Random) -> str:
    return str(rng.randrange(10**12, 10**13))


def _slug(text: str, joiner: str = "") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = ["".join(ch for ch in word if ch.isalnum()) for word in plain.replace("-", " ").split()]
    return joiner.join(word for word in words if word)[:40] or "customer"


def _uuid(number: int) -> str:
    text = f"{number:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# -- what people write -------------------------------------------------------------------------

# area: (feature, what users do with it, errors they see, a how-to question)
AREAS = {
    "payments": ("checkout", "take card payments", ("502 Bad Gateway", "PAYMENT_PROCESSOR_UNAVAILABLE"),
                 "add a second payout bank account"),
    "billing": ("billing portal", "download our invoices",
                ("500 Internal Server Error", "Invoice could not be generated"), "change the billing contact"),
    "login": ("login page", "sign in", ("503 Service Unavailable", "Session expired, please sign in again"),
              "enforce two-factor authentication for all users"),
    "sso": ("SAML single sign-on", "log in through our identity provider", ("SAML response signature is invalid",
            "403 Forbidden"), "set up SCIM provisioning with Okta"),
    "api": ("REST API", "call the /v2/orders endpoint", ("504 Gateway Timeout", "500 Internal Server Error"),
            "raise the API rate limit for our integration"),
    "reporting": ("reporting dashboard", "export reports", ("Export job failed", "Query timed out after 60 s"),
                  "schedule a weekly CSV export"),
    "mobile": ("mobile app", "sync the mobile app", ("Sync failed (code 17)", "Unable to reach server"),
               "roll out the mobile app through our MDM"),
}


@dataclass(frozen=True)
class Kind:
    weight: float
    severity: str                   # what the support team treats it as; outages depend on the tier
    issue_type: str
    areas: tuple[str, ...]
    resolve_hours: float            # median time to a fix
    summaries: tuple[str, ...]
    descriptions: tuple[str, ...]


KINDS = {
    "outage": Kind(6, "critical", "Incident", tuple(AREAS), 3, (
        "{Feature} down for all our users", "Outage: we cannot {action} ({error})",
        "URGENT - {feature} unavailable since {since}", "{Feature} is down in {city}, {error} on every request"), (
        "Since {since} nobody at {company} can {action}. Every attempt ends with \"{error}\". About {n} users are "
        "affected and our team in {city} is at a standstill. Please treat this as an outage.",
        "Hi, the {feature} has been down for us since {since}. We tried different browsers and networks, same "
        "result: {error}.\n\n{colleague} confirmed it for the whole {city} office. This blocks {n} people.")),
    "degraded": Kind(20, "normal", "Incident", tuple(AREAS), 26, (
        "{Feature} very slow since {day}", "Intermittent timeouts when we {action}",
        "{Feature} takes {secs} seconds to respond"), (
        "Since {day} the {feature} is slow for our users in {city}: pages take {secs} seconds and about one request "
        "in {k} fails with \"{error}\". Retrying works, but it costs us time.",
        "{colleague} reports that when we {action} it often hangs for {secs} seconds. It started around {since}. "
        "Not blocking, but {n} people use this every day.")),
    "data_integrity": Kind(7, "critical", "Incident", ("reporting", "api", "billing", "mobile"), 40, (
        "Data loss after last night's sync", "Missing records in {feature} since {day}",
        "Data corruption in exported reports"), (
        "{n} records we created on {day} are no longer in the {feature}. Nobody on our side deleted them; this looks "
        "like data loss. We need them back for our month-end close.",
        "Since {since} the figures in the {feature} do not match our source system: {k} accounts show a total of "
        "zero. We suspect data corruption during the last import.")),
    "security": Kind(4, "critical", "Incident", ("login", "sso", "api"), 20, (
        "Unauthorized access to our admin account", "Possible security breach: sign-ins from {ip}",
        "Account takeover reported by {colleague}"), (
        "Our audit log shows sign-ins to {colleague}'s account from {ip} at {since}. {colleague} was not working "
        "then. We suspect unauthorized access and have reset the password. Please check what was accessed.",
        "An API token of ours was used from {ip}, an address we do not know, to read {n} records. We revoked it. "
        "Please investigate this as a security incident.")),
    "safety": Kind(0.7, "critical", "Incident", ("mobile", "reporting"), 8, (
        "Safety hazard: lockout checklist skipped in the {feature}", "Crews sent to the wrong site - safety risk"), (
        "Our field technicians use the {feature} for the lockout/tagout checklist before they work on live "
        "equipment. Since {day} it is skipped for some jobs in {city}. This is a safety hazard: someone could "
        "get hurt.",
        "Since {since} the {feature} shows old site addresses, so {k} crews reached sites without a safety "
        "briefing. We paused dispatch in {city}. Please treat this as a safety issue.")),
    "billing": Kind(14, "high", "Service request", ("billing",) * 5 + ("payments",), 20, (
        "Double charged for invoice {invoice}", "Refund request: duplicate payment on {day}",
        "Invoice {invoice} is wrong - we were overcharged"), (
        "Our card was charged {amount} twice for invoice {invoice} on {day}. Please refund the duplicate payment "
        "and confirm when it is done.",
        "Invoice {invoice} bills us for {n} seats but we only have {k}. We were overcharged by {amount}; please "
        "send a corrected invoice and a refund.")),
    "howto": Kind(40, "low", "Question", tuple(AREAS), 6, (
        "How do we {howto}?", "Question: can we {howto}?", "Need help to {howto}"), (
        "Hi, {colleague} asked whether we can {howto}. I could not find it in the documentation. Could you point "
        "us to the right setting?",
        "Hello, we are preparing the rollout for our {city} team and want to {howto}. Is there a guide for this?")),
}
SEVERE = frozenset({"outage", "data_integrity", "security", "safety"})
GDPR_NOTE = ("\n\nThe affected records contain personal data of our customers (names, e-mail addresses), so we "
             "also have to assess our GDPR obligations.")
GDPR_REQUEST = ("GDPR request: erase a former employee's personal data",
                "Under GDPR {colleague} asked us to erase their personal data. How do we remove it from the "
                "{feature} and from your backups?")
# Replies by situation; a `_<kind>` variant replaces the plain one for that kind.
SAY = {
    "ack": ("Hi {first}, thanks for reporting this. I'm looking into it now and will update you within {mins} "
            "minutes.", "Hello {first}, we can reproduce the problem and are investigating.",
            "Thanks {first}. Could you send us the request id and the exact time of one failing attempt?"),
    "ack_howto": ("Hi {first}, good question - let me check the options for you.",),
    "ack_billing": ("Hi {first}, sorry about this. I have asked our billing team to look at invoice {invoice}.",),
    "update": ("Quick update: we are still working on it and will update you again within the hour.",
               "We found the cause and are testing a fix now.", "Thanks, that helps. We are checking the logs now."),
    "update_howto": ("You can do this under Settings > {Feature}. I have sent you the relevant guide.",),
    "customer": ("Any news? This still affects {n} users.", "Here is the request id you asked for: {reqid}.",
                 "We still see \"{error}\" as of a few minutes ago.", "Thanks, we will test this today."),
    "customer_howto": ("Thanks, where exactly do I find that setting?", "That worked, thank you."),
    "note": ("Looping in {team} on-call; {company} is a {tier} customer.",),
    "plan": ("Remediation plan: 1) {fix} 2) confirm with {company} that the {feature} works again "
             "3) monitor for 24 hours. Next update within 30 minutes.",),
    "rca": ("Root cause: {cause}. The post-mortem with follow-up actions is attached.",),
    "fixed": ("The fix is live and we confirmed the {feature} works again for {company}. I'm marking this ticket "
              "solved; just reply if anything is still wrong.",),
    "fixed_billing": ("We issued a refund of {amount}; it will show on your statement within 5-10 business days.",),
    "fixed_howto": ("Glad that worked. I'm closing this ticket; reply any time if you have more questions.",),
    "again": ("It is happening again since {since}: {error}.", "Sorry, the problem is back for {n} users."),
    "csat_good": ("Quick and helpful, thanks!", "Thanks for keeping us informed.", ""),
    "csat_bad": ("Took far too long and nobody told us what was going on.", "The problem came back, not impressed."),
}
# kind: (remediation steps, root causes)
FIXES = {
    "outage": (("roll back the deployment from {since}", "fail over to the secondary cluster"),
               ("a configuration change to the load balancer", "an expired TLS certificate on an internal service")),
    "data_integrity": (("restore the affected records from the nightly backup", "replay the import with the fixed job"),
                       ("a failed database migration", "a race condition in the sync job")),
    "security": (("revoke all sessions and rotate the affected credentials", "block {ip} and review the audit log"),
                 ("a session token that was not invalidated on password reset", "an API token with too broad a scope")),
    "safety": (("disable the affected release on all devices", "restore the previous site data for all crews"),
               ("a mobile release that skipped a checklist step", "a stale cache of site addresses")),
}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def say(rng: random.Random, situation: str, case: _Case) -> str:
    """A reply for the situation, in the words of this ticket."""
    return rng.choice(SAY.get(f"{situation}_{case.kind}") or SAY[situation]).format_map(case.words)


def _words(rng: random.Random, world: World, customer: Customer, reporter: Person, area: str,
           at: datetime) -> dict[str, object]:
    feature, action, errors, howto = AREAS[area]
    local = at.astimezone(REGION_ZONES[customer.region])
    since, day = local - timedelta(minutes=rng.randint(5, 50)), local - timedelta(days=rng.randint(1, 6))
    return {"feature": feature, "Feature": feature[0].upper() + feature[1:], "action": action, "howto": howto,
            "error": rng.choice(errors), "since": f"{since.hour:02d}:{since.minute:02d} {_zone_name(since)}",
            "day": DAYS[day.weekday()], "n": rng.randint(3, 400), "k": rng.randint(2, 9), "secs": rng.randint(8, 90),
            "city": rng.choice(REGION_CITIES[customer.region]), "company": customer.name,
            "colleague": rng.choice(world.colleagues[customer.region]), "first": reporter.name.split()[0],
            "amount": f"{rng.randint(90, 9000)}.{rng.randint(0, 99):02d} {'EUR' if customer.region == 'EU' else 'USD'}",
            "invoice": f"INV-{at.year}-{rng.randint(10000, 99999)}", "ip": rng.choice(world.addresses),
            "mins": rng.choice((15, 30, 60)), "reqid": f"req_{rng.getrandbits(64):016x}", "tier": customer.tier,
            "team": AREA_TEAMS[area]}


def _zone_name(local: datetime) -> str:
    name = local.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name  # Singapore's zone is named "+08"


# -- incidents and their tickets ---------------------------------------------------------------

@dataclass
class _Case:
    """A generated ticket with what the simulation knows beyond the platform's view."""
    ticket: Ticket
    kind: str
    severity: str
    words: dict
    late_ack: bool = False
    reopened: bool = False


def generate(seed: int, incidents: int, days: int, start: datetime,
             platforms: Sequence[str] = ("jira", "zendesk")) -> list[Delivery]:
    """The deliveries of `incidents` incidents arriving over `days` days from `start`, in time order.

    An outage often brings a burst of tickets from other customers; those belong to its incident.
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    start = _ms(start.astimezone(UTC))
    rng = random.Random(seed)
    run = _Run(seed, _world(rng, seed), tuple(platforms), start + timedelta(days=days) + FOLLOW_UP_SLACK)
    customers = run.world.customers
    weights = [TIER_ACTIVITY[customer.tier] for customer in customers]
    kinds, kind_weights = list(KINDS), [kind.weight for kind in KINDS.values()]
    for _ in range(incidents):
        customer, kind = rng.choices(customers, weights)[0], rng.choices(kinds, kind_weights)[0]
        first = run.ticket(rng, kind, customer, _arrival(rng, start, days, REGION_ZONES[customer.region]), None)
        if kind == "outage" and rng.random() < BURST_RATE:
            size = min(15, 2 + int(rng.expovariate(1 / 3)))
            for other in rng.sample([c for c in customers if c is not customer], size):
                run.ticket(rng, kind, other, first.created + timedelta(minutes=rng.uniform(1, 25)), first.area)
    return run.deliveries()


def _arrival(rng: random.Random, start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """A time in the window, weighted to weekdays and the customer's business hours."""
    while True:
        at = start + timedelta(seconds=rng.uniform(0, days * 86400))
        if rng.random() < _busyness(at.astimezone(zone)):
            return _ms(at)


def _busyness(local: datetime) -> float:
    hour, weekday = local.hour, local.weekday() < 5
    if 9 <= hour < 18:
        return 1.0 if weekday else 0.12
    if weekday and (7 <= hour < 9 or 18 <= hour < 21):
        return 0.25
    return 0.06 if weekday else 0.04


def in_business_hours(at: datetime, region: str) -> bool:
    """09:00-18:00 on a weekday in the region's main time zone."""
    local = at.astimezone(REGION_ZONES[region])
    return local.weekday() < 5 and 9 <= local.hour < 18


def _ms(at: datetime) -> datetime:
    # Jira timestamps are whole milliseconds; keeping every time so makes `at` equal the payload's.
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _response(rng: random.Random, severity: str, team: str, off_hours: bool) -> timedelta:
    minutes = ACK_MEDIAN[severity] * TEAM_PACE.get(team, 1.2) * rng.lognormvariate(0, 0.75)
    if off_hours and severity != "critical":
        minutes *= 4  # nobody is on shift for these until morning
    return timedelta(minutes=max(0.5, minutes))


def _lifecycle(rng: random.Random, world: World, case: _Case) -> list[tuple]:
    """What happens to one ticket, as (at, action, actor, value) in time order."""
    t0, severity = case.ticket.created, case.severity
    agent = rng.choice(world.agents["support-oncall"])
    ack = _response(rng, severity, agent.team, not in_business_hours(t0, case.ticket.customer.region))
    case.late_ack = ack > timedelta(minutes=2 * ACK_MEDIAN[severity])
    steps = [(t0, "created", case.ticket.reporter, None)]
    if rng.random() < 0.6:
        steps.append((t0 + ack * rng.uniform(0.3, 1.0), "assign", agent, agent))
    now = t0 + ack
    steps += [(now, "comment", agent, say(rng, "ack", case)),
              (now + timedelta(seconds=rng.uniform(5, 50)), "status", agent, "open")]
    owner, team = agent, agent.team
    if case.kind in SEVERE or rng.random() < 0.2:
        owner, team, now = _hand_over(rng, world, case, agent, now, steps)
    handover = now
    now = _conversation(rng, case, owner, team, now, steps)
    if case.kind in SEVERE and rng.random() < 0.85:
        _remediation(rng, case, owner, max(handover, t0 + timedelta(hours=1.2 * rng.lognormvariate(0, 0.6))), steps)
    resolved = _resolve(rng, case, owner, steps, KINDS[case.kind].resolve_hours)
    _regulator_notice(case, owner, steps)
    if rng.random() < REOPEN_RATE:
        resolved = _reopen(rng, case, owner, team, resolved, steps)
    if case.ticket.platform == "zendesk" and rng.random() < CSAT_RATE:
        mood = "bad" if rng.random() < 0.12 + 0.35 * case.reopened + 0.25 * case.late_ack else "good"
        steps.append((resolved + timedelta(minutes=20 + rng.expovariate(1 / 600)), "csat", case.ticket.reporter,
                      (mood, say(rng, f"csat_{mood}", case))))
    return sorted(steps, key=lambda step: step[0])


def _regulator_notice(case: _Case, owner: Person, steps: list) -> None:
    """On an EU personal-data incident the privacy office usually records its notice to the authority
    (GDPR Art. 33, 72 h), sometimes late, sometimes never. Its own generator, seeded by the ticket,
    so adding this left every other draw of a seed as it was."""
    if "personal-data" not in case.ticket.labels or case.ticket.customer.region != "EU":
        return
    rng = random.Random(f"regulator:{case.ticket.platform}:{case.ticket.number}:{case.ticket.created.isoformat()}")
    if rng.random() < 0.15:
        return
    at = case.ticket.created + timedelta(hours=20 * rng.lognormvariate(0, 0.8))
    reference = f"DPA-{rng.randint(10000, 99999)}"
    steps.append((at, "note", owner, rng.choice((f"Supervisory authority notified, reference {reference}.",
                                                 f"Regulator notice sent ({reference}); privacy office informed."))))


def _hand_over(rng: random.Random, world: World, case: _Case, agent: Person, now: datetime,
               steps: list) -> tuple[Person, str, datetime]:
    """Frontline assigns the ticket to the specialist team of its area (security to security)."""
    team = "security" if case.kind == "security" else AREA_TEAMS[case.ticket.area]
    owner, now = rng.choice(world.agents[team]), now + timedelta(minutes=rng.uniform(5, 60))
    case.words["team"] = team
    steps.append((now, "assign", agent, owner))
    if rng.random() < 0.3:
        steps.append((now + timedelta(minutes=1), "note", agent, say(rng, "note", case)))
    return owner, team, now


def _remediation(rng: random.Random, case: _Case, owner: Person, at: datetime, steps: list) -> None:
    """The owner posts a remediation plan, and often a root cause later."""
    fixes, causes = FIXES[case.kind]
    case.words.update(fix=rng.choice(fixes).format_map(case.words), cause=rng.choice(causes))
    plan = at + timedelta(minutes=2)
    steps.append((plan, "comment", owner, say(rng, "plan", case)))
    if rng.random() < 0.6:
        steps.append((plan + timedelta(hours=18 * rng.lognormvariate(0, 0.5)), "comment", owner, say(rng, "rca", case)))


def _conversation(rng: random.Random, case: _Case, owner: Person, team: str, now: datetime,
                  steps: list) -> datetime:
    """Rounds of customer reply and agent answer, some while waiting for the customer."""
    for _ in range(rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]):
        waiting = rng.random() < 0.35
        if waiting:
            steps.append((now + timedelta(minutes=1), "status", owner, "waiting"))
        now += timedelta(minutes=3 + rng.expovariate(1 / 90))
        steps.append((now, "comment", case.ticket.reporter, say(rng, "customer", case)))
        if waiting:  # a customer reply puts the ticket back in the agents' queue
            steps.append((now + timedelta(seconds=1), "status", case.ticket.reporter, "open"))
        now += _response(rng, case.severity, team, False)
        steps.append((now, "comment", owner, say(rng, "update", case)))
    return now


def _resolve(rng: random.Random, case: _Case, owner: Person, steps: list, median_hours: float) -> datetime:
    drawn = case.ticket.created + timedelta(hours=median_hours * rng.lognormvariate(0, 0.7))
    at = max(drawn, max(step[0] for step in steps) + timedelta(minutes=10))
    steps += [(at, "comment", owner, say(rng, "fixed", case)),
              (at + timedelta(minutes=rng.uniform(1, 5)), "status", owner, "solved")]
    return steps[-1][0]


def _reopen(rng: random.Random, case: _Case, owner: Person, team: str, resolved: datetime, steps: list) -> datetime:
    """The problem comes back: the customer writes, the ticket reopens and is solved again."""
    case.reopened = True
    at = resolved + timedelta(hours=rng.uniform(2, 72))
    steps += [(at, "comment", case.ticket.reporter, say(rng, "again", case)),
              (at + timedelta(seconds=1), "status", case.ticket.reporter, "open"),
              (at + _response(rng, case.severity, team, False), "comment", owner, say(rng, "update", case))]
    return _resolve(rng, case, owner, steps, 6)


class _Run:
    """The tickets of one generation and the requests their steps become."""

    def __init__(self, seed: int, world: World, platforms: tuple[str, ...], horizon: datetime):
        self.seed, self.world, self.platforms, self.horizon = seed, world, platforms, horizon
        self.numbers = {"jira": 0, "zendesk": 5000}
        self.serial = 30064117800000
        self.requests: list[tuple[datetime, int, str, bool, bytes]] = []

    def ticket(self, rng: random.Random, kind: str, customer: Customer, at: datetime, area: str | None) -> Ticket:
        """Create one ticket and play its whole lifecycle."""
        case = self._case(rng, kind, customer, _ms(at), area or rng.choice(KINDS[kind].areas))
        for at, action, actor, value in _lifecycle(rng, self.world, case):
            if at > self.horizon:
                break
            self._emit(case.ticket, _ms(at), action, actor, value)
        return case.ticket

    def _case(self, rng: random.Random, kind: str, customer: Customer, at: datetime, area: str) -> _Case:
        spec, reporter = KINDS[kind], rng.choice(customer.contacts)
        severity = spec.severity
        if kind == "outage" and customer.tier != "enterprise":
            severity = "normal" if customer.tier == "free" else "high"
        # Customers pick the priority themselves, often a notch too high.
        shift = rng.choices((-1, 0, 1), (10, 70, 20))[0]
        priority = SEVERITIES[min(3, max(0, SEVERITIES.index(severity) + shift))]
        words = _words(rng, self.world, customer, reporter, area, at)
        summary, description, labels = rng.choice(spec.summaries), rng.choice(spec.descriptions), []
        if kind == "security" and rng.random() < 0.5 or kind == "safety" and rng.random() < 0.6:
            labels.append(kind)
        if customer.region == "EU" and kind in ("data_integrity", "security") and rng.random() < 0.6:
            description, labels = description + GDPR_NOTE, [*labels, "personal-data"]
        elif customer.region == "EU" and kind == "howto" and rng.random() < 0.05:
            (summary, description), labels = GDPR_REQUEST, ["personal-data"]
        urgent = kind != "howto" and rng.random() < (0.15 if customer.tier == "enterprise" else 0.05)
        platform = self.platforms[int(self.world.channels[customer.name] * len(self.platforms))]
        self.numbers[platform] += 1
        ticket = Ticket(platform, self.numbers[platform], customer, reporter, area, spec.issue_type, priority,
                        "urgent" if urgent else None, tuple(labels), summary.format_map(words),
                        description.format_map(words), at)
        return _Case(ticket, kind, severity, words)

    def _emit(self, ticket: Ticket, at: datetime, action: str, actor: Person, value: object) -> None:
        previous = ticket.assignee if action == "assign" else ticket.status
        if action == "assign":
            ticket.assignee = value
        elif action == "status":
            ticket.status = value
        elif action in ("comment", "note"):
            ticket.last_comment = (value, actor.name, action == "comment")
        self.serial += 1
        uid = ""
        if ticket.platform == "zendesk":  # only Zendesk events carry their own id
            uid = _uuid(int.from_bytes(hashlib.blake2b(f"{self.seed}:{self.serial}".encode(), digest_size=16).digest()))
        payload = render(ticket, at, action, actor, value, previous, self.serial, uid)
        self.requests.append((at, len(self.requests), ticket.platform, action == "csat", canonical_json(payload)))

    def deliveries(self) -> list[Delivery]:
        """The requests in time order (creation order breaks ties), each with its own delivery id."""
        self.requests.sort(key=lambda request: request[:2])
        base = 8_000_000_000 + int.from_bytes(hashlib.blake2b(str(self.seed).encode(), digest_size=4).digest()) % 10**9
        return [Delivery(at, platform, _headers(platform, trigger, self.seed, index, base), body)
                for index, (at, _, platform, trigger, body) in enumerate(self.requests)]


def _headers(platform: str, trigger: bool, seed: int, index: int, base: int) -> dict[str, str]:
    if platform == "jira":
        digest = hashlib.blake2b(f"{seed}:delivery:{index}".encode(), digest_size=16).digest()
        return {"Content-Type": "application/json", "User-Agent": "Atlassian Webhook HTTP Client",
                "X-Atlassian-Webhook-Flow": "Primary", "X-Atlassian-Webhook-Identifier": _uuid(int.from_bytes(digest))}
    # Event subscriptions and triggers cannot share a Zendesk webhook, so ratings come from another.
    return {"Content-Type": "application/json", "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(ZENDESK_ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": ZENDESK_TRIGGER_WEBHOOK if trigger else ZENDESK_EVENTS_WEBHOOK,
            "X-Zendesk-Webhook-Invocation-Id": str(base + index)}
