"""The difference between two stored matrix versions: in meaning (rules, timers, owners, messages)
and line by line in matrix.yaml and the templates."""
from datetime import timedelta

import pytest

from plugin.bootstrap import read_sources
from plugin.matrix.diff import ADDED, CHANGED, REMOVED, Change, semantic_diff, text_diff
from plugin.matrix.stored import declared_version, matrix_from_files
from plugin.store.sql import SqlStore

from .conftest import RULES, START


def edited(files, *replacements, **templates):
    """A copy of the stored files with each (old, new) replaced once in matrix.yaml."""
    text = files["matrix.yaml"]
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return {**files, "matrix.yaml": text, **{f"templates/{name}": body for name, body in templates.items()}}


@pytest.fixture(scope="module")
def shipped_files():
    return read_sources(RULES)


@pytest.fixture
def store(tmp_path):
    return SqlStore(f"sqlite:///{tmp_path}/escalator.db")


def parsed(files):
    matrix, problems = matrix_from_files(files)
    assert problems == [] and matrix is not None
    return matrix


def test_two_stored_versions_are_listed_last_activated_first_and_read_back_as_they_were(store, shipped_files):
    newer = edited(shipped_files, ("critical: {ack: 15m", "critical: {ack: 10m"))
    old, new = parsed(shipped_files), parsed(newer)
    with store.transaction() as tx:
        tx.remember_matrix(old.version, shipped_files, START)
        tx.remember_matrix(new.version, newer, START + timedelta(days=2))
    with store.reading() as tx:
        versions = tx.matrix_versions()
        stored_old, stored_new = tx.matrix_files(old.version), tx.matrix_files(new.version)
    assert [(v["version"], v["activated_at"]) for v in versions] == [
        (new.version, START + timedelta(days=2)), (old.version, START)]
    assert parsed(stored_old).version == old.version and parsed(stored_new).version == new.version
    assert semantic_diff(parsed(stored_old), parsed(stored_new)) == [
        Change("timers", "critical ack", CHANGED, "15m (24x7)", "10m (24x7)")]


def test_a_version_activated_again_moves_to_the_top_and_keeps_its_first_creation_time(store, shipped_files):
    newer = edited(shipped_files, ("high:     {ack: 1h", "high:     {ack: 2h"))
    with store.transaction() as tx:
        tx.remember_matrix("aaa", shipped_files, START)
        tx.remember_matrix("bbb", newer, START + timedelta(hours=1))
        tx.remember_matrix("aaa", shipped_files, START + timedelta(hours=2))     # rolled back
    with store.reading() as tx:
        versions = tx.matrix_versions()
    assert [(v["version"], v["created_at"]) for v in versions] == [("aaa", START), ("bbb", START + timedelta(hours=1))]


def test_a_rename_is_a_removed_and_an_added_rule_and_a_moved_product_area_is_its_own_line(shipped_files):
    newer = edited(shipped_files, ("- name: billing dispute is high", "- name: billing dispute is urgent"),
                   ("login: identity-eng, ", ""),
                   ("level: L2, labels: [sla-missed]", "level: L3, labels: [sla-missed]"))
    changes = semantic_diff(parsed(shipped_files), parsed(newer))
    assert [(c.section, c.subject, c.change) for c in changes] == [
        ("owners", "L2 owner when product_area is login", REMOVED),
        ("triggers", "missed acknowledgement escalates to L2", CHANGED),
        ("triggers", "billing dispute is high", REMOVED),
        ("triggers", "billing dispute is urgent", ADDED)]
    assert changes[0].before == "identity-eng"
    assert changes[1].before.endswith("then level at least L2; labels sla-missed")
    assert changes[1].after.endswith("then level at least L3; labels sla-missed")


def test_messages_exceptions_and_reviews_are_compared_by_meaning(shipped_files):
    newer = edited(shipped_files,
                   ("channel: email, template: exec_brief.md.j2, sensitive: true",
                    "channel: internal_note, template: exec_brief.md.j2, sensitive: true"),
                   ("add_timers: {regulator_notice: 72h}", "add_timers: {regulator_notice: 48h}"),
                   ("remind_every: 1d", "remind_every: 12h"))
    changes = {(c.section, c.subject, c.change): (c.before, c.after) for c in semantic_diff(parsed(shipped_files),
                                                                                            parsed(newer))}
    assert changes[("communications", "L3", REMOVED)][0] == \
        "on escalated: exec-escalations, account_manager by email with exec_brief.md.j2, sensitive"
    assert changes[("communications", "L3", ADDED)][1].startswith(
        "on escalated: exec-escalations, account_manager by internal_note")
    before, after = changes[("exceptions", "EU personal-data incident", CHANGED)]
    assert "regulator_notice (3d, 24x7)" in before and "regulator_notice (2d, 24x7)" in after
    assert changes[("reviews", "remind every", CHANGED)] == ("1d", "12h")


def test_a_level_change_names_the_part_that_changed_and_a_team_its_contact(shipped_files):
    newer = edited(shipped_files,
                   ("duties: [root cause, workaround", "duties: [root cause, customer impact, workaround"),
                   ("slack: \"#sre-incidents\"", "slack: \"#sre-oncall\""))
    changes = semantic_diff(parsed(shipped_files), parsed(newer))
    assert [(c.section, c.subject, c.change) for c in changes] == [("levels", "L2 duties", CHANGED),
                                                                   ("teams and people", "platform-sre", CHANGED)]
    assert changes[0].after == "root cause, customer impact, workaround, dependencies, remediation plan"
    assert "slack #sre-oncall" in changes[1].after and "slack #sre-incidents" in changes[1].before


def test_reformatting_the_yaml_is_no_change_in_meaning_but_shows_in_the_text(shipped_files):
    newer = edited(shipped_files, ("# What stops a running timer.", "# What stops a running timer (reformatted)."))
    assert semantic_diff(parsed(shipped_files), parsed(newer)) == []
    [diff] = text_diff(shipped_files, newer)
    assert diff.path == "matrix.yaml" and diff.status == CHANGED
    assert [(line.kind, line.text) for line in diff.lines if line.kind in ("add", "del")] == [
        ("del", "# What stops a running timer."), ("add", "# What stops a running timer (reformatted).")]
    assert diff.lines[0].kind == "hunk" and diff.lines[0].text.startswith("@@ -")
    line = shipped_files["matrix.yaml"].splitlines().index("# What stops a running timer.") + 1
    assert [(d.old, d.new) for d in diff.lines if d.kind in ("add", "del")] == [(line, None), (None, line)]
    assert [(d.old, d.new) for d in diff.lines if d.kind == "same"][0] == (line - 3, line - 3)


def test_templates_are_diffed_after_the_matrix_and_a_new_template_is_added(shipped_files):
    newer = edited(shipped_files, ("# What stops", "# Still what stops"),
                   **{"ack.md.j2": shipped_files["templates/ack.md.j2"] + "Thanks!\n", "new.md.j2": "Hello\n"})
    diffs = text_diff(shipped_files, newer)
    assert [(d.path, d.status) for d in diffs] == [("matrix.yaml", CHANGED), ("templates/ack.md.j2", CHANGED),
                                                    ("templates/new.md.j2", ADDED)]
    assert [(line.kind, line.text) for line in diffs[2].lines] == [("hunk", "@@ -0,0 +1 @@"), ("add", "Hello")]


def test_a_stored_version_that_no_longer_parses_names_its_problem_by_the_stored_file(shipped_files):
    broken = edited(shipped_files, ("critical: {ack: 15m", "critical: {ack: 15 mins"))
    matrix, problems = matrix_from_files(broken)
    assert matrix is None
    assert problems[0].file == "matrix.yaml" and "not a duration" in problems[0].message


def test_the_declared_version_is_the_matrix_own_label(shipped_files):
    assert declared_version(shipped_files["matrix.yaml"]) == "2026.11"
    assert declared_version("severities: {}\n") == ""
    assert declared_version("key: [unclosed\n") == ""
