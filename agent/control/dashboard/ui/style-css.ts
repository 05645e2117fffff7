/** The dashboard's style sheet. */
export const STYLE_CSS = String.raw`:root {
  --bg: #fbfbfa; --fg: #1d1f21; --muted: #6b7075; --line: #dcdfe2; --accent: #1f6feb;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --code-bg: #f0f1f2;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #15171a; --fg: #e6e8ea; --muted: #9aa0a6; --line: #30343a; --accent: #58a6ff;
    --ok: #3fb950; --bad: #f85149; --warn: #d29922; --code-bg: #22262b; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem;
  border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 1.1rem; margin: 0; letter-spacing: .04em; }
.self { color: var(--muted); font-family: ui-monospace, monospace; font-size: .85rem;
  min-width: 0; flex: 1 1 20ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
nav { display: flex; gap: .25rem; }
nav button, header > button, form button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--line);
  background: transparent; color: var(--fg); border-radius: 6px; cursor: pointer; }
nav button[aria-current="page"] { border-color: var(--accent); color: var(--accent); }
main { padding: 1rem 1.2rem; max-width: 1200px; }
h2 { font-size: 1rem; margin: 1.2rem 0 .5rem; }
h3 { font-size: .95rem; margin: 1rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; white-space: nowrap; }
td.wrap { white-space: normal; }
.addr { display: inline-block; max-width: 40ch; overflow: hidden; text-overflow: ellipsis; vertical-align: bottom; }
th { color: var(--muted); font-weight: 500; font-size: .85rem; }
code, .mono { font-family: ui-monospace, monospace; font-size: .85rem; }
.id { display: inline-block; max-width: 22ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.chip { display: inline-block; padding: 0 .4rem; margin: 0 .2rem .2rem 0; border-radius: 4px; background: var(--code-bg);
  font-family: ui-monospace, monospace; font-size: .8rem; }
.badge { font-size: .8rem; padding: .1rem .5rem; border-radius: 10px; border: 1px solid var(--line); color: var(--muted); }
.badge.live { color: var(--ok); border-color: var(--ok); }
.status { font-size: .8rem; font-weight: 600; }
.status-succeeded, .path-direct { color: var(--ok); }
.status-failed, .status-cancelled { color: var(--bad); }
.status-running, .status-claimed, .path-relayed { color: var(--warn); }
.muted, .empty { color: var(--muted); }
tr.clickable { cursor: pointer; }
tr.clickable:hover, tr.clickable:focus { background: var(--code-bg); outline: none; }
tr.selected { background: var(--code-bg); }
.log { background: var(--code-bg); border-radius: 6px; padding: .5rem .8rem; margin: 0; list-style: none;
  font-family: ui-monospace, monospace; font-size: .82rem; max-height: 24rem; overflow: auto; }
.log li { white-space: pre-wrap; word-break: break-word; }
.log .at { color: var(--muted); margin-right: .8rem; }
.feed { list-style: none; padding: 0; margin: 0; font-size: .82rem; }
.feed li { padding: .15rem 0; border-bottom: 1px dotted var(--line); }
.feed .name { font-family: ui-monospace, monospace; margin: 0 .6rem; }
.error { color: var(--bad); }
#login form { max-width: 28rem; display: grid; gap: .5rem; }
form.inline { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin-bottom: .8rem; }
form.inline input { width: 22rem; max-width: 100%; }
input { font: inherit; padding: .4rem .5rem; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); color: var(--fg); }
`
