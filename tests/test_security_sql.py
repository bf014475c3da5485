"""SQL only with bound parameters: no statement handed to the database is built from values by string
formatting (f-string, %, .format, +). A static check over the service's code, so a new query cannot slip by."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("plugin", "web")
# The calls that send text to the database as SQL.
EXECUTE_CALLS = {"exec_driver_sql", "execute", "executemany", "executescript"}
TEXT_CALLS = {"text", "literal_column"}
# (file, function) pairs allowed to format SQL, each with why it is safe. None today.
ALLOWED: dict[tuple[str, str], str] = {}


def _built(node: ast.AST, constants: set[str]) -> bool:
    """Whether `node` builds a string out of anything but literals and module constants."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) and _dynamic(part.value, constants) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _dynamic(node.left, constants) or _dynamic(node.right, constants)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return any(_dynamic(arg, constants) for arg in (*node.args, *(k.value for k in node.keywords)))
    return False


def _dynamic(node: ast.AST, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return False
    if isinstance(node, ast.Name) and node.id in constants:
        return False
    if isinstance(node, ast.JoinedStr | ast.BinOp):      # "a" "b" or f"{CONSTANT}" nested in a larger one
        return _built(node, constants)
    return True


def _module_constants(tree: ast.Module) -> set[str]:
    """UPPER_CASE names bound once at module level to a literal string."""
    return {target.id for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name) and target.id.isupper()}


def _assigned(scope: ast.AST) -> dict[str, list[ast.expr]]:
    """Every value each plain name is bound to in `scope` (to follow `sql = f"..."; execute(sql)`)."""
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            found.setdefault(node.target.id, []).append(ast.BinOp(ast.Name(node.target.id), ast.Add(), node.value))
    return found


def _sqlalchemy_names(tree: ast.Module) -> set[str]:
    """The names under which this module imported SQLAlchemy's `text` or `literal_column` (a chart's
    `text()` is not SQL)."""
    return {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("sqlalchemy") for alias in node.names if alias.name in TEXT_CALLS}


def _is_sql_call(call: ast.Call, text_names: set[str]) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in text_names
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in TEXT_CALLS:         # sa.text(...), sqlalchemy.text(...)
        return isinstance(func.value, ast.Name) and func.value.id in ("sa", "sqlalchemy")
    return func.attr in EXECUTE_CALLS


def _enclosing_functions(tree: ast.Module) -> dict[int, ast.AST]:
    """For each call, the innermost function around it (or the module)."""
    owner: dict[int, ast.AST] = {}

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            if isinstance(child, ast.Call):
                owner[id(child)] = scope
            visit(child, inner)
    visit(tree, tree)
    return owner


def formatted_sql(source: str, filename: str) -> list[str]:
    """`file:line in function` for each SQL call whose statement is built by formatting."""
    tree = ast.parse(source, filename)
    constants, text_names, owner = _module_constants(tree), _sqlalchemy_names(tree), _enclosing_functions(tree)
    problems = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if not call.args or not _is_sql_call(call, text_names):
            continue
        scope, statement = owner[id(call)], call.args[0]
        values = _assigned(scope).get(statement.id, []) if isinstance(statement, ast.Name) else [statement]
        where = getattr(scope, "name", "<module>")
        if any(_built(v, constants) for v in values) and (filename, where) not in ALLOWED:
            problems.append(f"{filename}:{call.lineno} in {where}")
    return problems


def _sources() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (ROOT / folder).rglob("*.py"))


def test_no_sql_statement_in_the_service_is_built_by_string_formatting():
    problems = [p for path in _sources()
                for p in formatted_sql(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert len(_sources()) > 50         # the walk found the code it is meant to check
    assert not problems, "bind values as parameters (:name), never format them into SQL:\n" + "\n".join(problems)


HEADER = "import sqlalchemy as sa\nfrom sqlalchemy import text\n"


@pytest.mark.parametrize("code", [
    'conn.execute(text(f"SELECT * FROM t WHERE k = {key}"))',
    'conn.exec_driver_sql("DELETE FROM t WHERE k = %s" % key)',
    'conn.execute(text("SELECT * FROM t WHERE k = {}".format(key)))',
    'conn.exec_driver_sql("SELECT * FROM " + table)',
    'conn.execute(sa.text("SELECT * FROM t WHERE k = \'%s\'" % key))',
    'sql = f"SELECT {column} FROM t"\n    conn.execute(text(sql))',
    'sql = "SELECT * FROM t WHERE "\n    sql += clause\n    cursor.execute(sql)',
])
def test_a_statement_formatted_from_a_value_is_caught(code):
    found = formatted_sql(f"{HEADER}def query(conn, key, table, column, clause, cursor):\n    {code}\n", "x.py")
    assert len(found) == 1 and found[0].endswith(" in query"), found


@pytest.mark.parametrize("code", [
    'conn.execute(text("SELECT * FROM t WHERE k = :key"), {"key": key})',
    'conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")',
    'conn.execute(text(f"SELECT * FROM {TABLE}"))',
    'conn.execute(select(t).where(t.c.k == key))',
    'cursor.execute("PRAGMA journal_mode=WAL")',
    'chart.text(f"{key} escalations")',
])
def test_bound_parameters_and_constant_identifiers_pass(code):
    source = f'{HEADER}TABLE = "tickets"\n\ndef query(conn, key, read, t, cursor, chart):\n    {code}\n'
    assert formatted_sql(source, "x.py") == []
