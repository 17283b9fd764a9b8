/** The approval pages' stylesheet, served by the lead at `/approvals/static/page.css` (no inline CSS). */
export const APPROVAL_CSS = `
:root { color-scheme: light dark; --red: #b00020; --amber: #8a5300; --green: #1b6e20; --muted: #666; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1.summary { font-size: 1.6rem; line-height: 1.3; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; }
code { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 32rem) { dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: .5rem; } }
.cls { font-weight: 700; letter-spacing: .03em; }
.cls-destructive { color: var(--red); }
.cls-write { color: var(--amber); }
.cls-read { color: var(--green); }
.status strong { letter-spacing: .03em; }
pre.diff, pre.json { border: 1px solid #8884; border-radius: 4px; padding: .5rem; }
.fold, .ws { color: #b00020; background: #b0002014; border-radius: 2px; }
pre.diff span { display: block; }
pre.diff .add { background: #1b6e2022; }
pre.diff .del { background: #b0002022; }
pre.diff .hunk, pre.diff .meta { color: var(--muted); }
table.fields { border-collapse: collapse; width: 100%; }
table.fields th, table.fields td { text-align: left; vertical-align: top; border-top: 1px solid #8884; padding: .35rem .5rem; }
table.fields th { white-space: nowrap; }
.warn, .why { color: var(--amber); font-weight: 600; }
.decisions .d-deny { color: var(--red); }
.decisions .d-approve { color: var(--green); }
.actions { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1.5rem; }
form.decide { flex: 1 1 16rem; display: flex; flex-direction: column; gap: .35rem; }
textarea { font: inherit; width: 100%; }
.btn { font: inherit; font-weight: 700; padding: .7rem 1rem; border-radius: 6px; border: 2px solid currentColor; cursor: pointer; }
.btn-approve { color: var(--green); background: transparent; }
.btn-deny { color: var(--red); background: transparent; }
ul.list li { margin-bottom: .75rem; }
`;
