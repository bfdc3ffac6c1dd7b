/** The site's one stylesheet: system fonts, a light and a dark palette, a table that turns into cards on a phone. */
export const SITE_CSS = `:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa;
  --link: #0550ae; --ok: #1a7f37; --bad: #cf222e; --accent: #8250df; --focus: #0969da;
  --size: #0969da; --files: #bc4c00;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --soft: #161b22;
    --link: #58a6ff; --ok: #3fb950; --bad: #f85149; --accent: #bc8cff; --focus: #58a6ff;
    --size: #58a6ff; --files: #f0883e;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, [tabindex]:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
code, pre, kbd { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; overflow-x: auto; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: 0.25rem 0.5rem; z-index: 1; }
header.site, main, footer.site { max-width: 78rem; margin: 0 auto; padding: 0 1rem; }
header.site { padding-top: 1rem; border-bottom: 1px solid var(--line); }
header.site h1 { margin: 0.25rem 0; font-size: 1.6rem; overflow-wrap: anywhere; }
.sub, .muted { color: var(--muted); }
nav.crumbs { margin: 0.5rem 0; }
footer.site { color: var(--muted); font-size: 0.85rem; padding-top: 2rem; padding-bottom: 2rem; }
h2 { font-size: 1.25rem; margin: 1.5rem 0 0.5rem; }
.areas ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.5rem; }
.areas li { border: 1px solid var(--line); border-radius: 6px; padding: 0.3rem 0.6rem; background: var(--soft); }
.mode { font-size: 0.8rem; border-radius: 1rem; padding: 0 0.45rem; border: 1px solid var(--line); color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: end; margin: 0.5rem 0; }
.controls label { display: flex; flex-direction: column; font-size: 0.85rem; color: var(--muted); }
.controls input, .controls select, .file-filter input { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 0.35rem 0.5rem; }
.controls input[type="search"] { min-width: min(28rem, 90vw); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.4rem 0.5rem; border-bottom: 1px solid var(--line); }
th { font-size: 0.85rem; color: var(--muted); white-space: nowrap; }
th button { font: inherit; color: inherit; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.name a { font-weight: 600; overflow-wrap: break-word; }
.why { display: block; font-size: 0.8rem; color: var(--accent); }
.status { font-size: 0.8rem; border-radius: 1rem; padding: 0 0.5rem; white-space: nowrap; border: 1px solid currentColor; }
.status.ok { color: var(--ok); }
.status.bad { color: var(--bad); }
.fields th { width: 12rem; color: var(--fg); white-space: normal; }
.fields td, .summary td { overflow-wrap: anywhere; }
.card-body { border: 1px solid var(--line); border-radius: 6px; padding: 0 1rem; }
.card-body table th, .card-body table td { border: 1px solid var(--line); }
.problems { color: var(--bad); }
.cmd { display: flex; gap: 0.5rem; align-items: center; flex-wrap: wrap; }
.cmd code { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 0.25rem 0.5rem; overflow-wrap: anywhere; }
button.copy, button.more { font: inherit; font-size: 0.85rem; color: var(--fg); background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 0.2rem 0.6rem; cursor: pointer; }
.versions td code { white-space: nowrap; }
.chart { margin: 0.5rem 0 1rem; }
.chart svg { width: 100%; max-width: 40rem; height: auto; display: block; }
.chart .axis { stroke: var(--line); stroke-width: 1; }
.chart .line-size { fill: none; stroke: var(--size); stroke-width: 2; }
.chart .line-files { fill: none; stroke: var(--files); stroke-width: 2; stroke-dasharray: 6 4; }
.chart .dot-size { fill: var(--size); }
.chart .dot-files { fill: var(--files); }
.chart .label { fill: var(--muted); font-size: 12px; }
.chart figcaption { font-size: 0.85rem; color: var(--muted); }
.key-size { color: var(--size); font-weight: 600; }
.key-files { color: var(--files); font-weight: 600; }
.file-browser ul { list-style: none; margin: 0; padding-left: 1.1rem; }
.file-browser > ul[role="tree"] { padding-left: 0; max-height: 36rem; overflow: auto; border: 1px solid var(--line); border-radius: 6px; padding: 0.25rem; }
.file-browser li[role="treeitem"] > .row { display: flex; justify-content: space-between; gap: 1rem; padding: 0.1rem 0.3rem; border-radius: 4px; cursor: default; }
.file-browser li[aria-expanded] > .row { cursor: pointer; }
.file-browser li[aria-expanded="false"] > .row .name::before { content: "\\25B8 "; }
.file-browser li[aria-expanded="true"] > .row .name::before { content: "\\25BE "; }
.file-browser li:focus { outline: none; }
.file-browser li:focus > .row { outline: 2px solid var(--focus); }
.file-browser .name { overflow-wrap: anywhere; }
.file-browser .meta { color: var(--muted); font-size: 0.85rem; white-space: nowrap; }
.file-filter { margin: 0.5rem 0; }
.file-results-list { font-size: 0.9rem; padding-left: 2rem; max-height: 36rem; overflow: auto; }
.file-results-list li { display: flex; justify-content: space-between; gap: 1rem; }
.previews figure { margin: 0 0 1rem; }
.previews figcaption { font-weight: 600; margin-bottom: 0.25rem; overflow-wrap: anywhere; }
.previews img { max-width: min(100%, 24rem); height: auto; border: 1px solid var(--line); border-radius: 4px; }
.preview-table { overflow-x: auto; }
.preview-table table { font-size: 0.85rem; }
.preview-table td, .preview-table th { border: 1px solid var(--line); white-space: pre-wrap; }
@media (max-width: 45rem) {
  body { font-size: 16px; }
  #entries thead { display: none; }
  #entries tr { display: block; border-bottom: 1px solid var(--line); padding: 0.5rem 0; }
  #entries td { display: block; border: 0; padding: 0.1rem 0; text-align: left; }
  #entries td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  #entries td.num { text-align: left; }
  .fields th { width: auto; }
}
`;
