"""``--report FILE.html``: one self-contained page showing a demo run (pure: data in, HTML out).

The page needs nothing from the network: its style and script are inline, and the chart is
an SVG drawn by that script from the run's data, embedded as JSON in the page. It shows the
share of traffic each version answered, second by second (stacked areas), the error rate (a
red line), and a marker for every step, pause, promotion, analysis result, abort, GitOps
sync, canary weight and blue-green preview and switch; then the steps with their timings, the
checks the scenario made, the analysis measurements, the git log and the Rollout as it ended.
Without JavaScript, everything but the chart is still there as tables.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.demo.timeline import Marker, Sample
from controller.loadtest import format_duration

#: how the demo app's colours are drawn (the named CSS colours are too harsh for areas)
SHADES = {
    "blue": "#3b6fd8",
    "green": "#3a9a3a",
    "yellow": "#e3b505",
    "orange": "#f28e2b",
    "purple": "#8e5bb5",
    "red": "#d9534f",
}
#: a ``bad-`` version: dark grey, whatever its colour
BROKEN = "#4d4d4d"
#: colours for versions whose own colour is taken or unknown
FALLBACK_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class StepTiming:
    """One step of the run: its title, when it started, how long it took, and how it ended."""

    title: str
    started: float
    took: float
    #: True: done; False: failed; None: not run (an earlier step failed)
    ok: bool | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "started": round(self.started, 3),
            "took": round(self.took, 3),
            "ok": self.ok,
            "note": self.note,
        }


@dataclass(frozen=True)
class Measurement:
    """One analysis measurement as the AnalysisRun recorded it."""

    run: str
    metric: str
    phase: str
    value: str
    at: str


@dataclass
class RunRecord:
    """Everything the report shows about one run."""

    scenario: str
    title: str
    command: str
    started_at: str
    cluster: str
    passed: bool = False
    failure: str = ""
    duration: float = 0.0
    steps: list[StepTiming] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    #: version -> the colour its answers name (``green``; None when they name none)
    colors: dict[str, str | None] = field(default_factory=dict)
    checks: list[tuple[bool, str]] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    git_log: list[str] = field(default_factory=list)
    final_tree: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "command": self.command,
            "startedAt": self.started_at,
            "cluster": self.cluster,
            "passed": self.passed,
            "failure": self.failure,
            "duration": round(self.duration, 3),
            "steps": [s.to_dict() for s in self.steps],
            "markers": [m.to_dict() for m in self.markers],
            "samples": [s.to_dict() for s in self.samples],
            "colors": version_colors(self.colors),
            "checks": [{"ok": ok, "text": text} for ok, text in self.checks],
            "measurements": [m.__dict__ for m in self.measurements],
            "gitLog": self.git_log,
        }


def version_colors(colors: dict[str, str | None]) -> dict[str, str]:
    """A distinct display colour per version: its own colour when free, else a fallback."""
    out: dict[str, str] = {}
    used: set[str] = set()
    fallback = iter(FALLBACK_COLORS * 4)
    for version in sorted(colors, key=lambda v: (v.startswith("bad-"), v)):
        own = (colors[version] or "").lower()
        own = BROKEN if version.startswith("bad-") and BROKEN not in used else SHADES.get(own, own)
        color = own if own and own not in used else next(fallback, "#888888")
        used.add(color)
        out[version] = color
    return out


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _json_for_script(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def _clock(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 600 else format_duration(seconds)


def _steps_table(steps: Sequence[StepTiming]) -> str:
    rows = []
    for s in steps:
        state = "done" if s.ok else ("failed" if s.ok is False else "not run")
        icon = {"done": "✔", "failed": "✖", "not run": "-"}[state]
        rows.append(
            f'<tr class="step {state.replace(" ", "-")}"><td class="icon">{icon}</td><td>{_e(s.title)}</td>'
            f'<td class="num">{_e(_clock(s.started))}</td><td class="num">{_e(_clock(s.took))}</td>'
            f"<td>{_e(s.note)}</td></tr>"
        )
    return (
        '<table id="step-table"><thead><tr><th></th><th>step</th><th>at</th><th>took</th><th>note</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _markers_table(markers: Sequence[Marker]) -> str:
    rows = "".join(
        f'<tr class="marker-row" data-kind="{_e(m.kind)}"><td class="num">{_e(_clock(m.at))}</td>'
        f'<td><span class="kind {_e(m.kind)}">{_e(m.kind)}</span></td><td>{_e(m.label)}</td>'
        f"<td>{_e(m.detail)}</td></tr>"
        for m in markers
    )
    return (
        '<table id="marker-table"><thead><tr><th>at</th><th>kind</th><th>what</th><th>detail</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _checks_list(checks: Sequence[tuple[bool, str]]) -> str:
    items = "".join(
        f'<li class="check {"ok" if ok else "failed"}">{"✔" if ok else "✖"} {_e(text)}</li>'
        for ok, text in checks
    )
    return f'<ul id="checks">{items}</ul>'


def _measurements_table(measurements: Sequence[Measurement]) -> str:
    rows = "".join(
        f'<tr class="measurement {_e(m.phase)}"><td>{_e(m.run)}</td><td>{_e(m.metric)}</td><td>{_e(m.at)}</td>'
        f"<td>{_e(m.value)}</td><td>{_e(m.phase)}</td></tr>"
        for m in measurements
    )
    return (
        '<table id="measurement-table"><thead><tr><th>AnalysisRun</th><th>metric</th><th>at</th>'
        f"<th>value</th><th>phase</th></tr></thead><tbody>{rows}</tbody></table>"
    )


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}
.outcome{font-weight:600;padding:.15em .6em;border-radius:4px;display:inline-block}
.outcome.passed{background:#e3f4e1;color:#1e6b1a}.outcome.failed{background:#fbe3e3;color:#9b1c1c}
.meta{color:#555}.meta code{background:#f4f4f4;padding:0 .3em;border-radius:3px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #eee;vertical-align:top}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td.icon{width:1.5em}
tr.failed td{color:#9b1c1c}tr.not-run td{color:#999}
.kind{font-size:.85em;padding:0 .4em;border-radius:3px;background:#eee}
.kind.abort{background:#fbe3e3}.kind.pause{background:#fff3cd}.kind.analysis{background:#e4ecfb}
.kind.sync{background:#efe4fb}.kind.promote,.kind.resume,.kind.switch{background:#e3f4e1}
.kind.preview{background:#f3e8fb}.kind.weight{background:#e4f3f6}
ul#checks{list-style:none;padding:0}li.check.failed{color:#9b1c1c}li.check.ok{color:#1e6b1a}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:12px;line-height:1.3}
#chart-box svg{width:100%;height:auto;background:#fff;border:1px solid #eee}
#legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1.2em}#legend li{display:flex;align-items:center;gap:.4em}
#legend .swatch{width:1em;height:1em;border-radius:2px;display:inline-block}
#tooltip{position:absolute;pointer-events:none;background:rgba(30,30,30,.9);color:#fff;padding:.3em .6em;border-radius:4px;font-size:12px;display:none}
"""

# The chart: stacked areas of each version's share per second, the error rate as a line, and a
# vertical line per marker. Written for plain browsers: no libraries, no network.
SCRIPT = r"""
(function () {
  var data = JSON.parse(document.getElementById('run-data').textContent);
  var box = document.getElementById('chart-box');
  var NS = 'http://www.w3.org/2000/svg';
  var W = 960, H = 390, L = 48, R = 16, T = 22, B = 124;
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  var samples = data.samples, versions = Object.keys(data.colors);
  var svg = el('svg', {id: 'traffic-chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img'});
  svg.appendChild(el('title', {}, 'Traffic share per version, error rate and events of the ' + data.scenario + ' demo'));
  // the chart starts a little before the traffic (setup before it is in the table below)
  var shown = data.markers.filter(function (m) { return m.kind !== 'setup'; });
  var t0 = samples.length ? samples[0].at : (shown.length ? shown[0].at : 0), t1 = t0 + 1;
  shown.forEach(function (m) { t0 = Math.min(t0, m.at); });
  t0 = Math.max(0, Math.floor(t0) - 1);
  samples.forEach(function (s) { t1 = Math.max(t1, s.at + s.width); });
  shown.forEach(function (m) { t1 = Math.max(t1, m.at + 1); });
  function x(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
  function y(p) { return T + (1 - p / 100) * (H - T - B); }
  var grid = el('g', {'class': 'grid'});
  [0, 25, 50, 75, 100].forEach(function (p) {
    grid.appendChild(el('line', {x1: L, x2: W - R, y1: y(p), y2: y(p), stroke: '#eee'}));
    grid.appendChild(el('text', {x: L - 6, y: y(p) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#666'}, p + '%'));
  });
  var step = Math.max(1, Math.ceil((t1 - t0) / 10 / 5) * 5);
  for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    grid.appendChild(el('text', {x: x(t), y: H - B + 14, 'text-anchor': 'middle', 'font-size': 11, fill: '#666'}, t + 's'));
  }
  svg.appendChild(grid);
  // stacked shares: one closed path per version, in legend order
  var base = samples.map(function () { return 0; });
  var totals = samples.map(function (s) {
    var n = 0; for (var v in s.versions) n += s.versions[v]; return n;
  });
  var areas = el('g', {'class': 'shares'});
  versions.forEach(function (v) {
    var top = [], bottom = [];
    samples.forEach(function (s, i) {
      var share = totals[i] ? 100 * (s.versions[v] || 0) / totals[i] : 0;
      var lo = base[i], hi = base[i] + share;
      top.push([x(s.at), y(hi)], [x(s.at + s.width), y(hi)]);
      bottom.push([x(s.at), y(lo)], [x(s.at + s.width), y(lo)]);
      base[i] = hi;
    });
    if (!top.length) return;
    var d = 'M' + top.map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join('L') +
      'L' + bottom.reverse().map(function (p) { return p[0].toFixed(1) + ',' + p[1].toFixed(1); }).join('L') + 'Z';
    areas.appendChild(el('path', {'class': 'share', 'data-version': v, d: d, fill: data.colors[v], 'fill-opacity': 0.75}));
  });
  svg.appendChild(areas);
  // error rate: share of all requests that failed
  var points = [];
  samples.forEach(function (s, i) {
    var n = totals[i] + s.unanswered;
    if (n > 0) points.push(x(s.at + s.width / 2).toFixed(1) + ',' + y(100 * s.errors / n).toFixed(1));
  });
  svg.appendChild(el('polyline', {'class': 'error-rate', points: points.join(' '), fill: 'none', stroke: '#d62728', 'stroke-width': 2}));
  grid.appendChild(el('text', {x: W - R, y: T - 4, 'text-anchor': 'end', 'font-size': 10, fill: '#999'}, 'seconds since the demo started'));
  // markers: a vertical line each; labels below the plot, each in the first row where it fits
  var colorOf = {abort: '#d62728', pause: '#c49a00', resume: '#2ca02c', promote: '#2ca02c', analysis: '#1f5fbf',
                 step: '#555', update: '#111', sync: '#7b3fbf', phase: '#111', setup: '#999',
                 weight: '#17869e', preview: '#8e5bb5', switch: '#2ca02c', scaledown: '#777'};
  var marks = el('g', {'class': 'markers'});
  var rowEnds = [];
  shown.forEach(function (m) {
    var g = el('g', {'class': 'marker', 'data-kind': m.kind});
    var c = colorOf[m.kind] || '#555', at = x(m.at), width = 6 * m.label.length + 8, row = 0;
    // a label that would run past the right edge ends at its line instead
    var leftward = at + width > W - R, start = leftward ? at - width : at;
    while (row < rowEnds.length && rowEnds[row] > start) row++;
    rowEnds[row] = start + width;
    g.appendChild(el('line', {x1: at, x2: at, y1: T, y2: H - B + 18 + row * 13, stroke: c, 'stroke-dasharray': '3,3'}));
    g.appendChild(el('text', {x: leftward ? at - 2 : at + 2, y: H - B + 28 + row * 13, 'font-size': 11, fill: c,
                              'text-anchor': leftward ? 'end' : 'start'}, m.label));
    g.appendChild(el('title', {}, m.at.toFixed(1) + 's ' + m.label + (m.detail ? ': ' + m.detail : '')));
    marks.appendChild(g);
  });
  svg.appendChild(marks);
  box.appendChild(svg);
  // legend with each version's share of all answered requests
  var legend = document.getElementById('legend');
  var all = 0, per = {};
  samples.forEach(function (s) { for (var v in s.versions) { per[v] = (per[v] || 0) + s.versions[v]; all += s.versions[v]; } });
  versions.forEach(function (v) {
    var li = document.createElement('li');
    li.setAttribute('data-version', v);
    var sw = document.createElement('span'); sw.className = 'swatch'; sw.style.background = data.colors[v];
    li.appendChild(sw);
    li.appendChild(document.createTextNode(v + ' — ' + (per[v] || 0) + ' requests (' + (all ? (100 * (per[v] || 0) / all).toFixed(0) : 0) + '%)'));
    legend.appendChild(li);
  });
  var err = document.createElement('li'); err.setAttribute('data-version', 'errors');
  var esw = document.createElement('span'); esw.className = 'swatch'; esw.style.background = '#d62728';
  err.appendChild(esw); err.appendChild(document.createTextNode('error rate'));
  legend.appendChild(err);
  // tooltip: the second under the pointer
  var tip = document.getElementById('tooltip');
  svg.addEventListener('mousemove', function (ev) {
    var r = svg.getBoundingClientRect(), t = t0 + ((ev.clientX - r.left) / r.width * W - L) / (W - L - R) * (t1 - t0);
    var s = samples.filter(function (s) { return t >= s.at && t < s.at + s.width; })[0];
    if (!s) { tip.style.display = 'none'; return; }
    var parts = []; for (var v in s.versions) parts.push(v + ' ' + s.versions[v]);
    tip.textContent = s.at.toFixed(0) + 's: ' + (parts.join(', ') || 'no answers') + '; errors ' + s.errors;
    tip.style.left = (ev.pageX + 12) + 'px'; tip.style.top = (ev.pageY + 12) + 'px'; tip.style.display = 'block';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  document.body.setAttribute('data-chart', 'drawn');
})();
"""


def render_report(record: RunRecord) -> str:
    """The whole page."""
    outcome = "passed" if record.passed else "failed"
    headline = f"{outcome} in {format_duration(record.duration)}"
    failure = f'<p class="failure">{_e(record.failure)}</p>' if record.failure else ""
    sections = [
        '<section id="traffic"><h2>Traffic</h2>'
        '<p class="meta">Share of the requests each version answered, second by second (areas), the share '
        "that failed (red line), and what happened (dashed lines).</p>"
        '<div id="chart-box"><noscript>The chart needs JavaScript; the tables below show the same run.'
        '</noscript></div><ul id="legend"></ul></section>',
        f'<section id="events"><h2>What happened</h2>{_markers_table(record.markers)}</section>',
        f'<section id="steps"><h2>Steps and timings</h2>{_steps_table(record.steps)}</section>',
        f'<section id="outcome"><h2>Checks</h2>{_checks_list(record.checks)}</section>',
    ]
    if record.measurements:
        sections.append(
            f'<section id="measurements"><h2>Analysis measurements</h2>{_measurements_table(record.measurements)}'
            "</section>"
        )
    if record.git_log:
        log = "\n".join(record.git_log)
        sections.append(f'<section id="git"><h2>Git log</h2><pre id="git-log">{_e(log)}</pre></section>')
    if record.final_tree:
        sections.append(
            f'<section id="rollout"><h2>The Rollout at the end</h2><pre id="final-tree">{_e(record.final_tree)}'
            "</pre></section>"
        )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>rollouts demo: {_e(record.scenario)} — {outcome}</title>"
        f"<style>{STYLE}</style></head>\n"
        f'<body data-scenario="{_e(record.scenario)}" data-outcome="{outcome}">\n'
        f"<header><h1>{_e(record.scenario)}: {_e(record.title)}</h1>"
        f'<p><span class="outcome {outcome}" id="outcome-badge">{_e(headline)}</span></p>{failure}'
        f'<p class="meta">started {_e(record.started_at)} on {_e(record.cluster)} · '
        f"<code>{_e(record.command)}</code></p></header>\n"
        + "\n".join(sections)
        + '\n<div id="tooltip"></div>\n'
        f'<script type="application/json" id="run-data">{_json_for_script(record.to_dict())}</script>\n'
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )
