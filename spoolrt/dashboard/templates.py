"""The dashboard's pages: jinja2 templates with autoescape on, and one stylesheet served by the
app itself (no CDN, no script: it works offline and under ``default-src 'none'``)."""

from __future__ import annotations

from typing import Any

from spoolrt.core.errors import ConfigurationError

INSTALL_HINT = (
    "the dashboard needs jinja2: pip install 'spoolrt[dashboard]' (quoted: zsh globs the brackets)"
)

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#234;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1em}
main{padding:1em}table{border-collapse:collapse}td,th{padding:.2em .6em;text-align:left;
border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}
.failed,.quarantined{color:#a00}.done{color:#070}pre{background:#f7f7f7;padding:.6em;
overflow:auto;max-width:100em}.warn{background:#fee;padding:.4em}.who{float:right}form.inline{display:inline}
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spoolrt — {{ title }}</title>
<link rel="stylesheet" href="{{ root }}/style.css"></head><body>
<header><strong>spoolrt</strong> &nbsp;
<a href="{{ root }}/">overview</a><a href="{{ root }}/tasks">tasks</a>
<a href="{{ root }}/tasks?status=failed">failed</a>
<a href="{{ root }}/tasks?status=quarantined">quarantine</a>
<a href="{{ root }}/tasks?status=done">done</a><a href="{{ root }}/metrics">metrics</a>
<span class="who">{{ user }}{% if operator %} (operator){% endif %}</span></header>
<main>{% block body %}{% endblock %}</main></body></html>"""

OVERVIEW = """{% extends "base" %}{% block body %}<h1>Overview</h1>
{% for s in spoolers %}<h2>{{ s.spooler }}</h2><table id="overview"><tr>
{% for state, n in s.files.items() %}<th>{{ state }}</th>{% endfor %}<th>oldest pending</th>
<th>spoolers busy / idle</th></tr><tr>
{% for state, n in s.files.items() %}<td><a class="{{ state }}"
 href="{{ root }}/tasks?status={{ state }}&amp;spooler={{ s.spooler|urlencode }}">{{ n }}</a></td>
{% endfor %}<td>{{ "%.1f"|format(s.oldest_pending_age) }} s</td>
<td>{{ s.processes.busy }} / {{ s.processes.idle }}</td></tr></table>
<p>result store: {% for k, v in s.stored.items() if v %}{{ k }} {{ v }} {% else %}no records
{% endfor %}</p>{% endfor %}{% endblock %}"""

TASKS = """{% extends "base" %}{% block body %}
<h1>Tasks{% if status %}: {{ status }}{% endif %}</h1>
<form method="get" action="{{ root }}/tasks"><label>status <select name="status">
<option value="">waiting and kept</option>{% for s in states %}<option value="{{ s }}"
{% if s == status %}selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
<label>name <input name="name" value="{{ name }}"></label>
<input type="hidden" name="spooler" value="{{ spooler }}"><button>filter</button></form>
<table id="tasks"><tr><th>state</th><th>id</th><th>task</th><th>when</th><th>note</th></tr>
{% for r in rows %}<tr><td class="{{ r.state }}">{{ r.state }}</td>
<td>{% if r.task_id %}<a href="{{ root }}/task/{{ r.task_id|urlencode }}">{{ r.task_id }}</a>
{% else %}-{% endif %}</td><td>{{ r.name }}</td><td>{{ when(r.when) }}</td><td>{{ r.note }}</td>
</tr>{% else %}<tr><td colspan="5">nothing here</td></tr>{% endfor %}</table>
{% if more %}<p><a id="next" href="{{ next_url }}">next page</a></p>{% endif %}{% endblock %}"""

DETAIL = """{% extends "base" %}{% block body %}<h1>Task {{ t.task_id }}</h1>
{% if t.disagreement %}<p class="warn">{{ t.disagreement }}</p>{% endif %}
<table id="detail">
<tr><th>state</th><td class="{{ t.state }}">{{ t.state }}</td></tr>
<tr><th>task</th><td>{{ t.name }}</td></tr>
<tr><th>arguments</th><td><code>{{ t.arguments or "(not shown: signature not verified)" }}</code>
</td></tr><tr><th>attempt</th><td>{{ t.attempt }} of {{ t.max_attempts or "?" }}</td></tr>
<tr><th>enqueued</th><td>{{ when(t.enqueued_at) }}</td></tr>
<tr><th>started</th><td>{{ when(t.started_at) }}</td></tr>
<tr><th>finished</th><td>{{ when(t.finished_at) }}</td></tr>
<tr><th>waited / ran</th><td>{{ secs(t.wait_seconds) }} / {{ secs(t.run_seconds) }}</td></tr>
<tr><th>error</th><td>{{ t.error }}</td></tr><tr><th>reason</th><td>{{ t.reason }}</td></tr>
<tr><th>file</th><td>{{ t.file or "-" }}{% if t.file %} (signature
{{ "verifies" if t.verified else "does NOT verify" }}){% endif %}</td></tr></table>
{% if t.traceback %}<h2>Traceback</h2><pre id="traceback">{{ t.traceback }}</pre>{% endif %}
{% if t.retryable and operator %}<form method="post"
 action="{{ root }}/task/{{ t.task_id|urlencode }}/retry"><input type="hidden" name="csrf"
 value="{{ csrf }}"><button id="retry">retry from the stored file</button></form>{% endif %}
{% if t.cancelable and operator %}<form method="post"
 action="{{ root }}/task/{{ t.task_id|urlencode }}/cancel"><input type="hidden" name="csrf"
 value="{{ csrf }}"><button id="cancel">cancel this task</button></form>{% endif %}
{% endblock %}"""

MESSAGE = """{% extends "base" %}{% block body %}<h1>{{ title }}</h1><p>{{ message }}</p>
{% endblock %}"""


def environment() -> Any:
    """A jinja2 environment over these templates, autoescaping everything (jinja2 is the
    optional ``dashboard`` extra, imported when a dashboard is made)."""
    try:
        import jinja2
    except ImportError as exc:
        raise ConfigurationError(INSTALL_HINT) from exc
    loader = jinja2.DictLoader(
        {"base": BASE, "overview": OVERVIEW, "tasks": TASKS, "detail": DETAIL, "message": MESSAGE}
    )
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
