// The status page's styles, served as /status/app.css (the Content-Security-Policy allows no inline style). Light
// and dark schemes share one set of custom properties; the layout is one column below 700 px.
export const styles = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9;
  --card: #ffffff;
  --text: #1b1f24;
  --muted: #57606a;
  --border: #d0d7de;
  --up: #1a7f37;
  --up-bg: #dafbe1;
  --down: #c62828;
  --down-bg: #ffebe9;
  --off: #6e7781;
  --off-bg: #eaeef2;
  --seg-full: #2da44e;
  --seg-high: #8fd19e;
  --seg-partial: #d4a72c;
  --seg-low: #cf222e;
  --seg-none: #d0d7de;
  --p50: #0969da;
  --p99: #8250df;
  --focus: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117;
    --card: #161b22;
    --text: #e6edf3;
    --muted: #9198a1;
    --border: #30363d;
    --up: #3fb950;
    --up-bg: #12261e;
    --down: #ff7b72;
    --down-bg: #2d1214;
    --off: #9198a1;
    --off-bg: #21262d;
    --seg-full: #2ea043;
    --seg-high: #1f6f3b;
    --seg-partial: #bb8009;
    --seg-low: #da3633;
    --seg-none: #30363d;
    --p50: #58a6ff;
    --p99: #d2a8ff;
    --focus: #58a6ff;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0 auto;
  max-width: 1100px;
  padding: 16px;
  background: var(--bg);
  color: var(--text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
a { color: var(--p50); }
a:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
h1 { font-size: 1.25rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 24px 0 10px; }
h3 { font-size: 1rem; margin: 0; }
h4 { font-size: 0.8rem; margin: 14px 0 6px; color: var(--muted); font-weight: 600; text-transform: uppercase;
  letter-spacing: 0.04em; }
.muted { color: var(--muted); }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;
}
.top { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 16px;
  margin-bottom: 12px; }
.freshness { margin: 0; color: var(--muted); font-size: 0.875rem; }

.contact {
  margin: 0 0 12px; padding: 10px 14px; border-radius: 8px; border: 1px solid var(--down);
  background: var(--down-bg); color: var(--text); font-weight: 600;
}
.contact .icon { color: var(--down); margin-right: 6px; }

.overall {
  margin: 0; padding: 16px 18px; border-radius: 10px; border: 1px solid var(--border); background: var(--card);
  border-left: 6px solid var(--off);
}
.overall[data-state="ready"] { border-left-color: var(--up); }
.overall[data-state="not-ready"] { border-left-color: var(--down); }
.overall-state { display: flex; align-items: center; gap: 10px; margin: 0; font-size: 1.5rem; }
.overall .detail { margin: 4px 0 0; color: var(--muted); }

.icon {
  display: inline-flex; align-items: center; justify-content: center; flex: none;
  width: 1.5em; height: 1.5em; border-radius: 50%; font-size: 0.8em; font-weight: 700; line-height: 1;
  background: var(--off-bg); color: var(--off);
}
[data-state="ready"] .icon, [data-state="up"] .icon { background: var(--up-bg); color: var(--up); }
[data-state="not-ready"] .icon, [data-state="down"] .icon { background: var(--down-bg); color: var(--down); }

.availability { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 10px 0 0; }
.availability div { display: flex; gap: 6px; align-items: baseline; }
.availability dt { color: var(--muted); font-size: 0.85rem; }
.availability dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }

.dependencies { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.dependency {
  padding: 14px 16px; border-radius: 10px; border: 1px solid var(--border); background: var(--card); min-width: 0;
}
.dependency header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: 4px 12px; }
.state { display: inline-flex; align-items: center; gap: 6px; margin: 0; font-weight: 600; }
[data-state="up"] .state-text { color: var(--up); }
[data-state="down"] .state-text { color: var(--down); }
.dependency .since { margin: 4px 0 0; color: var(--muted); font-size: 0.875rem; }

.bar { display: flex; gap: 1px; height: 28px; margin: 0; }
.bar span { flex: 1 1 0; min-width: 0; border-radius: 1px; background: var(--seg-none); }
.bar .seg-full, .legend .seg-full { background: var(--seg-full); }
.bar .seg-high, .legend .seg-high { background: var(--seg-high); }
.bar .seg-partial, .legend .seg-partial { background: var(--seg-partial); }
.bar .seg-low, .legend .seg-low { background: var(--seg-low); }
.legend .seg-none { background: var(--seg-none); }
.bar-axis { display: flex; justify-content: space-between; margin-top: 2px; font-size: 0.75rem; color: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 2px 12px; margin: 6px 0 0; padding: 0; list-style: none;
  font-size: 0.75rem; color: var(--muted); }
.legend span { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px;
  vertical-align: -1px; }

.chart { display: block; width: 100%; height: 90px; overflow: visible; }
.chart .grid { stroke: var(--border); stroke-width: 1; vector-effect: non-scaling-stroke; }
.chart .p50, .chart .p99 { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round;
  vector-effect: non-scaling-stroke; }
.chart .p50 { stroke: var(--p50); }
.chart .p99 { stroke: var(--p99); stroke-dasharray: 5 3; }
.latency-now { margin: 0 0 6px; font-variant-numeric: tabular-nums; }
.chart-key { margin: 6px 0 0; font-size: 0.75rem; color: var(--muted); }
.chart-scale { display: flex; justify-content: space-between; font-size: 0.75rem; color: var(--muted); }
.key-p50, .key-p99 { display: inline-block; width: 18px; height: 0; margin: 0 4px 0 0; vertical-align: middle;
  border-top: 2px solid var(--p50); }
.key-p99 { margin-left: 12px; border-top: 2px dashed var(--p99); }

.changes { margin: 0; padding: 0; list-style: none; border: 1px solid var(--border); border-radius: 10px;
  background: var(--card); }
.changes:empty { display: none; }
.changes li { display: grid; grid-template-columns: 9.5em 7em 1fr; gap: 4px 12px; align-items: center;
  padding: 8px 14px; border-top: 1px solid var(--border); }
.changes li:first-child { border-top: 0; }
.changes time { color: var(--muted); font-variant-numeric: tabular-nums; }

main.stale .dependency, main.stale .changes, main.stale .overall .availability { opacity: 0.6; }
footer { margin-top: 28px; font-size: 0.85rem; }

@media (max-width: 700px) {
  body { padding: 12px; }
  .overall-state { font-size: 1.25rem; }
  .dependencies { grid-template-columns: 1fr; }
  .bar { gap: 0; }
  .bar span { border-radius: 0; }
  .changes li { grid-template-columns: auto 1fr; }
  .changes li .change-state { grid-column: 1 / -1; }
}
@media (prefers-reduced-motion: no-preference) {
  .icon, .overall { transition: background-color 0.2s, border-color 0.2s; }
}
`
