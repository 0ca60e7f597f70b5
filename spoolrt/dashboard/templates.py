"""The dashboard's pages: jinja2 templates with autoescape on, one stylesheet and one small
script (``LIVE_JS``, live refresh) served by the app itself: no CDN, no inline script, so it
works offline and under ``default-src 'none'``; every page works without the script too."""

from __future__ import annotations

from typing import Any

from spoolrt.core.errors import ConfigurationError
from spoolrt.dashboard.pool import POOL

INSTALL_HINT = (
    "the dashboard needs jinja2: pip install 'spoolrt[dashboard]' (quoted: zsh globs the brackets)"
)

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#234;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1em}
main{padding:1em}table{border-collapse:collapse}td,th{padding:.2em .6em;text-align:left;
border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}
.failed,.quarantined{color:#a00}.done{color:#070}.cancelled{color:#777}
.live{margin-left:1em;font-size:85%;opacity:.8}pre{background:#f7f7f7;padding:.6em;
overflow:auto;max-width:100em}.warn{background:#fee;padding:.4em}.who{float:right}form.inline{display:inline}
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spoolrt — {{ title }}</title>
<link rel="stylesheet" href="{{ root }}/style.css">
<script src="{{ root }}/live.js" defer></script></head><body>
<header><strong>spoolrt</strong> &nbsp;
<a href="{{ root }}/">overview</a><a href="{{ root }}/tasks">tasks</a>
<a href="{{ root }}/tasks?status=failed">failed</a>
<a href="{{ root }}/tasks?status=quarantined">quarantine</a>
<a href="{{ root }}/tasks?status=done">done</a><a href="{{ root }}/timings">timings</a>
<a href="{{ root }}/schedules">schedules</a><a href="{{ root }}/processes">processes</a>
<a href="{{ root }}/audit">audit</a><a href="{{ root }}/metrics">metrics</a>
<span class="who">{{ user }}{% if operator %} (operator){% endif %}<span id="live"
class="live"></span></span></header>
<main{% if api %} data-api="{{ api }}"{% endif %}>{% block body %}{% endblock %}</main>
</body></html>"""

OVERVIEW = """{% extends "base" %}{% block body %}<h1>Overview</h1>
{% if pool_nodes %}<p><a id="pool-link" href="{{ root }}/pool">the pool: {{ pool_nodes }} nodes</a>
</p>{% endif %}
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
<h1>Tasks{% if f.status %}: {{ f.status }}{% endif %}</h1>
<form method="get" action="{{ root }}/tasks"><label>status <select name="status">
<option value="">waiting and kept</option>{% for s in states %}<option value="{{ s }}"
{% if s == f.status %}selected{% endif %}>{{ s }}</option>{% endfor %}</select></label>
<label>name <input name="name" value="{{ f.name }}"></label>
<label>since <select name="since"><option value="">any time</option>{% for w in windows %}
<option value="{{ w }}"{% if w == f.since %} selected{% endif %}>last {{ w }}</option>
{% endfor %}</select></label>
<label>sort <select name="sort"><option value="">default</option>{% for o in sorts %}
<option value="{{ o }}"{% if o == f.sort %} selected{% endif %}>{{ o }}</option>{% endfor %}
</select></label>
<input type="hidden" name="spooler" value="{{ f.spooler }}"><button>filter</button></form>
{% if operator and f.status in ("", "failed") %}<p><a id="retry-failed" href="{{ retry_url }}">
retry all failed tasks matching this filter…</a></p>{% endif %}
{% if operator and f.status in purgeable %}<p><a id="purge" href="{{ purge_url }}">
purge all {{ f.status }} tasks matching this filter…</a></p>{% endif %}
<table id="tasks"><tr><th><a href="{{ link(sort="state") }}">state</a></th><th>id</th>
<th><a href="{{ link(sort="name") }}">task</a></th>
<th><a href="{{ link(sort="old" if f.sort == "new" else "new") }}">when</a></th><th>note</th></tr>
{% for r in rows %}<tr><td class="{{ r.state }}">{{ r.state }}</td>
<td>{% if r.task_id %}<a href="{{ root }}/task/{{ r.task_id|urlencode }}">{{ r.task_id }}</a>
{% else %}-{% endif %}</td><td>{{ r.name }}</td><td>{{ when(r.when) }}</td><td>{{ r.note }}</td>
</tr>{% else %}<tr><td colspan="5">nothing here</td></tr>{% endfor %}</table>
{% if more %}<p><a id="next" href="{{ next_url }}">next page</a></p>{% endif %}{% endblock %}"""

CONFIRM = """{% extends "base" %}{% block body %}<h1>Retry failed tasks</h1>
<p id="matching">{{ n }} failed task(s) match{% if f.name %} name {{ f.name }}{% endif %}
{% if f.since %} in the last {{ f.since }}{% endif %}{% if f.spooler %} in {{ f.spooler }}
{% endif %}. Each goes back from its own stored, signed file.</p>
{% if operator and n %}<form method="post" action="{{ root }}/tasks/retry-failed">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="confirm"
value="yes">{% for k in ("name", "spooler", "since") %}<input type="hidden" name="{{ k }}"
value="{{ f[k] }}">{% endfor %}<button id="confirm">retry these {{ n }}</button></form>
{% endif %}<p><a href="{{ root }}/tasks?status=failed">back</a></p>{% endblock %}"""

PURGE = """{% extends "base" %}{% block body %}<h1>Purge {{ f.status or "tasks" }}</h1>
{% if f.status not in purgeable %}<p>Choose what to purge: {% for s in purgeable %}<a
href="{{ root }}/purge?status={{ s }}">{{ s }}</a> {% endfor %}(a running task is never
purged).</p>{% else %}{% set records = f.status in history %}<p id="matching">
{{ n }} {{ f.status }} {{ "record(s)" if records else "task file(s)" }} match{% if f.name %}
name {{ f.name }}{% endif %}{% if f.since %} in the last {{ f.since }}{% endif %}{% if f.spooler %}
in {{ f.spooler }}{% endif %}. {% if records %}Purging deletes them from the result store for
good, as <code>spoolrt purge --status</code> does: these tasks finished and have no file; the
finished counters of <code>/metrics</code> drop by as much.{% else %}Purging deletes them for
good, as <code>spoolrt purge</code> does: a waiting one under its spooler's lock (a running one
is left), a kept one with its record.{% endif %}</p>{% if operator and n %}<form method="post"
action="{{ root }}/purge"><input type="hidden" name="csrf" value="{{ csrf }}"><input
type="hidden" name="confirm" value="yes"><input type="hidden" name="before"
value="{{ before }}">{% for k in ("status", "name", "spooler", "since") %}<input type="hidden"
name="{{ k }}" value="{{ f[k] }}">{% endfor %}<button id="confirm">delete these {{ n }}</button>
</form>{% endif %}{% endif %}<p><a href="{{ root }}/tasks?status={{ f.status }}">back</a></p>
{% endblock %}"""

#: Live refresh: poll this page's JSON twin (``data-api`` on ``<main>``) and, when it changed,
#: swap in the page's fresh ``<main>``; never while a form field in it has the focus, and not
#: at all without ``fetch`` (the page is then as it was served, reloaded by hand). The first
#: answer always fetches the page once (it was rendered before that answer, so it may be
#: older); a fetched page that is the same as the one shown changes nothing.
LIVE_JS = """// spoolrt dashboard: live refresh (served by the dashboard itself; no inline script).
(function () {
  "use strict";
  var main = document.querySelector("main[data-api]");
  if (!main || !window.fetch || !window.DOMParser) { return; }
  var api = main.getAttribute("data-api"), every = 2000, last = null, shown = main.innerHTML;
  var badge = document.getElementById("live");
  function say(text) { if (badge) { badge.textContent = text; } }
  function inUse() {
    var active = document.activeElement;
    return active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
  }
  function get(url, accept) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": accept}})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); });
  }
  function swap() {
    return get(window.location.href, "text/html").then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
      // Only a page that changed replaces what is shown (elements in use stay as they are).
      if (fresh && fresh.innerHTML !== shown) { main.innerHTML = shown = fresh.innerHTML; }
    });
  }
  function poll() {
    get(api, "application/json").then(function (text) {
      say("live");
      // The first answer may already be newer than the page it was served with: swap once
      // after it, so what is shown is never older than the answer compared against next.
      if (text === last || inUse()) { return null; }
      return swap().then(function () { last = text; });
    }).catch(function () { say("live refresh paused"); })
      .then(function () { window.setTimeout(poll, every); });
  }
  poll();
}());
"""

TIMINGS = """{% extends "base" %}{% block body %}<h1>Run and wait times</h1>
<form method="get" action="{{ root }}/timings"><label>since <select name="since">
<option value="">everything kept</option>{% for w in ("1h", "24h", "7d") %}<option
value="{{ w }}"{% if w == since %} selected{% endif %}>last {{ w }}</option>{% endfor %}
</select></label><button>show</button></form>
<table id="timings"><tr><th>task</th><th>finished</th><th>run p50</th><th>run p95</th>
<th>run max</th><th>wait p50</th><th>wait p95</th><th>spooler</th></tr>
{% for t in rows %}<tr><td>{{ t.task or "-" }}</td><td>{{ t.finished }}</td>
<td>{{ secs(t.run.p50) }}</td><td>{{ secs(t.run.p95) }}</td><td>{{ secs(t.run.max) }}</td>
<td>{{ secs(t.wait.p50) }}</td><td>{{ secs(t.wait.p95) }}</td><td>{{ t.spooler }}</td></tr>
{% else %}<tr><td colspan="8">no finished task in the store</td></tr>{% endfor %}</table>
{% endblock %}"""

SCHEDULES = """{% extends "base" %}{% block body %}<h1>Schedules</h1>
<table id="schedules"><tr><th>name</th><th>schedule</th><th>task</th><th>next runs</th>
<th>last run</th><th>last success</th><th></th></tr>
{% for s in schedules %}<tr><td>{{ s.name }}</td><td>{{ s.schedule }}</td><td>{{ s.task }}</td>
<td>{{ s.next|join(", ") }}</td><td>{% if s.last %}<a class="{{ s.last.status }}"
href="{{ root }}/task/{{ s.last.id|urlencode }}">{{ s.last.status }}</a>
{{ when(s.last.finished_at) }} {{ s.last.error or "" }}{% else %}-{% endif %}</td>
<td>{{ when(s.last_success) }}</td><td>{% if operator %}<form class="inline" method="post"
action="{{ root }}/schedules/run"><input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="schedule" value="{{ s.name }}"><button>run now</button></form>
{% endif %}</td></tr>{% else %}<tr><td colspan="7">no schedules registered in this process
(mount the dashboard in the app, or pass --app)</td></tr>{% endfor %}</table>{% endblock %}"""

PROCESSES = """{% extends "base" %}{% block body %}<h1>Spooler processes</h1>
{% for s in spoolers %}<h2>{{ s.spooler }}</h2><table class="processes"><tr><th>pid</th>
<th>host</th><th>kind</th><th>state</th><th>running</th><th>since</th></tr>
{% for p in s.processes %}<tr><td>{{ p.pid }}</td><td>{{ p.host }}</td><td>{{ p.kind }}</td>
<td>{{ p.state }}</td><td>{% for r in p.running %}{{ r.task or "-" }} {% if r.id %}<a
href="{{ root }}/task/{{ r.id|urlencode }}">{{ r.id }}</a>{% endif %} {% else %}-{% endfor %}
</td><td>{% for r in p.running %}{{ when(r.started_at) }}{% endfor %}</td></tr>
{% else %}<tr><td colspan="6">no spooler process announced</td></tr>{% endfor %}</table>
{% endfor %}{% endblock %}"""

AUDIT = """{% extends "base" %}{% block body %}<h1>Audit log</h1>
<table id="audit"><tr><th>when</th><th>who</th><th>action</th><th>target</th></tr>
{% for a in actions %}<tr><td>{{ a.at }}</td><td>{{ a.who }}</td><td>{{ a.action }}</td>
<td>{{ a.target }}</td></tr>{% else %}<tr><td colspan="4">no action yet</td></tr>{% endfor %}
</table>{% endblock %}"""

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
        {
            "base": BASE,
            "overview": OVERVIEW,
            "tasks": TASKS,
            "detail": DETAIL,
            "message": MESSAGE,
            "confirm": CONFIRM,
            "timings": TIMINGS,
            "schedules": SCHEDULES,
            "processes": PROCESSES,
            "audit": AUDIT,
            "pool": POOL,
            "purge": PURGE,
        }
    )
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
