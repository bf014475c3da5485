"""HTML reports with inline SVG charts: one self-contained file, every value escaped."""
from __future__ import annotations

from jinja2 import Environment, select_autoescape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1d2433}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse}
td,th{padding:.25rem .75rem;border-bottom:1px solid #e3e6ec;text-align:left}.n{text-align:right}
svg text{font-size:12px;fill:#1d2433}.changed{background:#fff4d6}
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ subtitle }}</p>
{% for chart in charts %}
<h2>{{ chart.title }}</h2>
{% set top = chart["values"].values()|max if chart["values"] else 1 %}
<svg width="640" height="{{ 24 * chart["values"]|length + 8 }}" role="img" aria-label="{{ chart.title }}">
{% for label, value in chart["values"].items() %}
<text x="0" y="{{ 24 * loop.index0 + 17 }}">{{ label }}</text>
<rect x="180" y="{{ 24 * loop.index0 + 4 }}" height="16"
      width="{{ (380 * value / (top or 1))|round(1) }}" fill="#3b6fd8"/>
<text x="{{ 186 + (380 * value / (top or 1))|round(1) }}" y="{{ 24 * loop.index0 + 17 }}">{{ value }}</text>
{% endfor %}
</svg>
{% endfor %}
{% for table in tables %}
<h2>{{ table.title }}</h2>
<table><tr>{% for h in table.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr{% if row.changed %} class="changed"{% endif %}>
{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_report(title: str, subtitle: str, charts: list[dict], tables: list[dict]) -> str:
    """`charts`: [{"title", "values": {label: number}}]; `tables`: [{"title", "header", "rows": [{"cells"}]}]."""
    return _env.from_string(_PAGE).render(title=title, subtitle=subtitle, charts=charts, tables=tables)
