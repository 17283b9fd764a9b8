/** The console's stylesheet, served at `/console/static/console.css` (no inline CSS: the CSP allows only 'self'). */
export const CONSOLE_CSS_PATH = '/console/static/console.css';

export const CONSOLE_CSS = `
:root { color-scheme: light dark; --red: #b00020; --amber: #8a5300; --green: #1b6e20; --muted: #666; --line: #8884; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.25rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; letter-spacing: .02em; }
nav a { margin-right: .9rem; text-decoration: none; }
nav a.here { font-weight: 700; text-decoration: underline; }
header .who { margin-left: auto; color: var(--muted); font-size: .9rem; }
header form { display: inline; }
main { max-width: 78rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: .3rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
code { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; border-top: 1px solid var(--line); padding: .35rem .5rem; }
th { white-space: nowrap; }
.cls { font-weight: 700; letter-spacing: .03em; }
.cls-destructive, .st-fail, .st-quarantined, .st-disabled, .st-revoked, .o-refused, .o-error { color: var(--red); }
.cls-write, .st-warn, .st-read_only, .st-shadow, .st-expired, .o-tool_error, .o-shadow { color: var(--amber); }
.cls-read, .st-pass, .st-active, .o-ok { color: var(--green); }
.muted, small { color: var(--muted); }
pre.diff { border: 1px solid var(--line); border-radius: 4px; padding: .5rem; }
pre.diff > span { display: block; min-height: 1.2em; }
table.inventory td:first-child code { white-space: nowrap; }
pre.diff .add { background: #1b6e2022; }
pre.diff .del { background: #b0002022; }
pre.diff .hunk, pre.diff .meta { color: var(--muted); }
.fold, .ws { color: #b00020; background: #b0002014; border-radius: 2px; }
form.inline { display: inline-flex; flex-wrap: wrap; gap: .35rem; align-items: center; margin: 0; }
form.card, section.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem; margin: .75rem 0; display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: end; }
form.card label { display: flex; flex-direction: column; font-size: .85rem; gap: .15rem; }
input, select, textarea { font: inherit; padding: .25rem .4rem; }
button { font: inherit; font-weight: 600; padding: .3rem .8rem; border-radius: 5px; border: 1px solid currentColor; background: transparent; cursor: pointer; }
button.danger { color: var(--red); }
.flash { padding: .6rem .8rem; border-radius: 6px; border: 1px solid var(--line); margin-bottom: 1rem; }
.flash.ok { border-color: var(--green); }
.flash.err { border-color: var(--red); color: var(--red); }
.secret { font-size: 1rem; padding: .5rem; border: 2px dashed var(--amber); display: block; margin: .5rem 0; user-select: all; }
.pager { margin-top: 1rem; }
.login { max-width: 28rem; margin: 4rem auto; }
.login form { display: flex; flex-direction: column; gap: .5rem; margin-bottom: 1rem; }
`;
