// The fleet report page: one self-contained HTML file drawn from the report model (the documents
// `status --json` and `compliance --json` print). No script runs in it, and a Content-Security-
// Policy of default-src 'none' forbids every fetch, so it opens from a file on a locked-down
// machine and makes no request. Charts are SVG written here: a few stacked bars need no library,
// and a bundled one would add a script the page would then have to allow.
import type { AgencyView, RegionEntry } from './status.ts';
import { standardTierApplies } from './lifecycle-status.ts';
import type { AgencyCompliance, ComplianceModel, Tally } from './compliance-model.ts';

/** What `status --json` prints. */
export interface StatusDocument {
  region: string;
  centralStack: { name: string; status: string; outputs: Record<string, string | undefined> };
  agencies: AgencyView[];
  regions: RegionEntry[];
  warnings: string[];
  errors: string[];
}

export interface ReportModel {
  generatedAt: string;
  status: StatusDocument;
  compliance: ComplianceModel;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
const pct = (part: number, whole: number) => (whole ? Math.round((part / whole) * 1000) / 10 : 0);

/** A stacked horizontal bar: each part a rect whose width is its share of the whole. */
export function stackedBar(parts: Array<{ value: number; cls: string; label: string }>, width = 160): string {
  const total = parts.reduce((n, p) => n + p.value, 0);
  let x = 0;
  const rects = parts
    .filter((p) => p.value > 0)
    .map((p) => {
      const w = total ? (p.value / total) * width : 0;
      const r = `<rect class="${p.cls}" x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="12"><title>${esc(p.label)}: ${p.value}</title></rect>`;
      x += w;
      return r;
    });
  const empty = total
    ? ''
    : `<rect class="none" x="0" y="0" width="${width}" height="12"><title>no data</title></rect>`;
  return `<svg class="chart bar" role="img" width="${width}" height="12" viewBox="0 0 ${width} 12">${empty}${rects.join('')}</svg>`;
}

const patchBar = (t: Tally) =>
  stackedBar([
    { value: t.compliant, cls: 'ok', label: 'compliant' },
    { value: t.nonCompliant, cls: 'bad', label: 'non-compliant' },
    { value: t.unknown, cls: 'none', label: 'no scan' },
  ]);

/**
 * Nodes against the standard-tier limit, with a mark at the warning share (80%). A Region on the
 * advanced tier is not held to it (the limit applies to the standard tier only): never red.
 */
export function limitBar(used: number, limit: number, width = 240, limitApplies = true): string {
  const w = Math.min(1, limit ? used / limit : 0) * width;
  const cls = !limitApplies ? 'ok' : used >= limit ? 'bad' : used >= limit * 0.8 ? 'warn' : 'ok';
  return `<svg class="chart limit" role="img" width="${width}" height="14" viewBox="0 0 ${width} 14"><rect class="none" x="0" y="0" width="${width}" height="14"/><rect class="${cls}" x="0" y="0" width="${w.toFixed(1)}" height="14"><title>${used} of ${limit}</title></rect><line x1="${width * 0.8}" x2="${width * 0.8}" y1="0" y2="14" class="mark"/></svg>`;
}

function activationCell(a: AgencyView): string {
  if (!a.activation) return '<td class="expiry warn">none</td><td>-</td>';
  const { daysLeft, expiresAt, registrations, limit } = a.activation;
  const cls = daysLeft <= 0 ? 'bad' : daysLeft < 7 ? 'warn' : '';
  return `<td class="expiry ${cls}">${esc(expiresAt.slice(0, 10))} (${daysLeft}d)</td><td>${registrations}/${limit}</td>`;
}

function nodesCell(rows: AgencyCompliance[], limit: number): string {
  if (!rows.length) return '<td>0</td>';
  return `<td class="nodes">${rows.map((r) => `${esc(r.region)}: ${r.nodes} <small>(${pct(r.nodes, limit)}% of ${limit})</small>`).join('<br>')}</td>`;
}

function agencyRow(a: AgencyView, rows: AgencyCompliance[], limit: number): string {
  const sum = (f: (r: AgencyCompliance) => number) => rows.reduce((n, r) => n + f(r), 0);
  const patch: Tally = {
    compliant: sum((r) => r.patch.compliant),
    nonCompliant: sum((r) => r.patch.nonCompliant),
    unknown: sum((r) => r.patch.unknown),
  };
  const nodes = sum((r) => r.nodes);
  const failing = a.stackInstances.filter((i) => i.status !== 'SUCCEEDED' && i.status !== 'CURRENT').length;
  const err = a.latestError
    ? `<br><small title="${esc(a.latestError.error)}">${esc(a.latestError.error.slice(0, 80))}</small>`
    : '';
  const notReporting = sum((r) => r.notReporting);
  return `<tr class="agency-row" data-agency="${esc(a.account)}"><td>${esc(a.account)}</td>${activationCell(a)}<td>${esc(a.permissionsStack)}<br><small>${a.stackInstances.length - failing} ok, ${failing} not</small></td>${nodesCell(rows, limit)}<td>${a.syncedNodes ?? '-'}</td><td class="${a.errorNodes ? 'bad' : ''}">${a.errorNodes ?? '-'}${err}</td><td>${patchBar(patch)}<br><small>${pct(patch.compliant, nodes)}% compliant</small></td><td>${sum((r) => r.criticalMissing)} / ${sum((r) => r.securityMissing)}</td><td class="${notReporting ? 'warn' : ''}">${notReporting}</td></tr>`;
}

function agencyTable(m: ReportModel): string {
  const limit = m.status.regions[0]?.limit ?? 1000;
  const byAgency = new Map<string, AgencyCompliance[]>();
  for (const r of m.compliance.agencies) byAgency.set(r.agency, [...(byAgency.get(r.agency) ?? []), r]);
  const accounts = new Set(m.status.agencies.map((a) => a.account));
  // An agency with nodes but no row in status (no permissions stack found) still gets a row.
  const extra: AgencyView[] = [...byAgency.keys()]
    .filter((a) => !accounts.has(a))
    .map((account) => ({ account, permissionsStack: 'NOT_FOUND', stackInstances: [] }));
  const rows = [...m.status.agencies, ...extra].map((a) => agencyRow(a, byAgency.get(a.account) ?? [], limit));
  return `<table id="agencies"><thead><tr><th>agency</th><th>activation expires</th><th>registrations</th><th>stacks</th><th>nodes per Region</th><th>synced</th><th>sync errors</th><th>patch compliance</th><th>critical / security missing</th><th>not reporting</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function regionTable(m: ReportModel): string {
  const hub = new Map<string, number>();
  for (const r of m.compliance.agencies) hub.set(r.region, (hub.get(r.region) ?? 0) + r.nodes);
  const rows = m.status.regions.map((r) =>
    !('error' in r)
      ? `<tr class="region-row" data-region="${esc(r.region)}"><td>${esc(r.region)}</td><td>${r.managedNodes}</td><td>${hub.get(r.region) ?? 0}</td><td>${r.limit}</td><td>${limitBar(r.managedNodes, r.limit, 240, standardTierApplies(r.tier))} ${r.percent}%</td></tr>`
      : `<tr class="region-row" data-region="${esc(r.region)}"><td>${esc(r.region)}</td><td class="bad" colspan="4">not counted: ${esc(r.error)}</td></tr>`,
  );
  return `<table id="regions"><thead><tr><th>Region</th><th>hybrid nodes</th><th>of them hub agencies'</th><th>standard-tier limit</th><th>used</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** One column per agency, worst patch compliance first: where to look, at a glance. */
export function perAgencyChart(rows: readonly AgencyCompliance[]): string {
  const by = new Map<string, { ok: number; nodes: number }>();
  for (const r of rows) {
    const x = by.get(r.agency) ?? { ok: 0, nodes: 0 };
    by.set(r.agency, { ok: x.ok + r.patch.compliant, nodes: x.nodes + r.nodes });
  }
  const list = [...by].map(([agency, x]) => ({ agency, nodes: x.nodes, share: pct(x.ok, x.nodes) }));
  list.sort((a, b) => a.share - b.share || (a.agency < b.agency ? -1 : 1));
  const w = Math.max(2, Math.min(16, Math.floor(960 / Math.max(1, list.length))));
  const h = 80;
  const cols = list.map((a, i) => {
    const bh = (a.share / 100) * h;
    const cls = a.share >= 95 ? 'ok' : a.share >= 80 ? 'warn' : 'bad';
    return `<rect class="${cls}" data-agency="${esc(a.agency)}" x="${i * w}" y="${(h - bh).toFixed(1)}" width="${Math.max(1, w - 1)}" height="${bh.toFixed(1)}"><title>${esc(a.agency)}: ${a.share}% of ${a.nodes} nodes compliant</title></rect>`;
  });
  const width = Math.max(1, list.length * w);
  return `<svg class="chart per-agency" role="img" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}"><rect class="none" x="0" y="0" width="${width}" height="${h}" opacity="0.3"/>${cols.join('')}</svg>`;
}

function problems(m: ReportModel): string {
  const items = [
    ...m.status.errors.map((e) => `<li class="bad">ERROR: ${esc(e)}</li>`),
    ...m.compliance.errors.map((e) => `<li class="bad">ERROR: ${esc(e)}</li>`),
    ...m.status.warnings.map((w) => `<li class="warn">${esc(w)}</li>`),
  ];
  if (!items.length) return '<p id="problems">No sync failures, registration problems or read errors.</p>';
  // A long list folds (no script needed); the count stays in view.
  const open = items.length <= 20 ? ' open' : '';
  return `<details id="problems"${open}><summary>${items.length} warnings and errors</summary><ul>${items.join('')}</ul></details>`;
}

function summary(m: ReportModel): string {
  const t = m.compliance.totals;
  const card = (label: string, value: string | number, cls = '') =>
    `<div class="card ${cls}"><div class="value">${esc(value)}</div><div>${esc(label)}</div></div>`;
  return `<div class="cards">${card('agencies', m.status.agencies.length)}${card('hub nodes', t.nodes)}${card('patch compliant', `${pct(t.patch.compliant, t.nodes)}%`)}${card('critical patches missing', t.criticalMissing, t.criticalMissing ? 'bad' : '')}${card('not reporting', t.notReporting, t.notReporting ? 'warn' : '')}${card('warnings', m.status.warnings.length, m.status.warnings.length ? 'warn' : '')}</div><div id="patch-total">${patchBar(t.patch)}</div>`;
}

const STYLE = `body{font:13px/1.4 system-ui,sans-serif;margin:20px;color:#1b1f23}h1{font-size:22px;margin:0}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa;position:sticky;top:0}small{color:#57606a}td.nodes,td.expiry{white-space:nowrap}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:120px}.card .value{font-size:22px;font-weight:600}td.bad,li.bad,.card.bad .value{color:#cf222e}td.warn,li.warn,.card.warn .value{color:#9a6700}rect.ok{fill:#2da44e}rect.bad{fill:#cf222e}rect.warn{fill:#d4a72c}rect.none{fill:#d0d7de}line.mark{stroke:#57606a;stroke-dasharray:2 2}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}`;

/** The whole page. Every value from AWS or the model is escaped; the model is embedded as data. */
export function renderReport(m: ReportModel): string {
  const data = JSON.stringify(m).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SSM hub report ${esc(m.generatedAt)}</title><style>${STYLE}</style></head><body>
<h1>SSM central hub: fleet report</h1>
<p>Made <time id="generated-at" datetime="${esc(m.generatedAt)}">${esc(m.generatedAt.replace('T', ' ').slice(0, 19))} UTC</time> · hub Region ${esc(m.status.region)} · central stack ${esc(m.status.centralStack.name)}: ${esc(m.status.centralStack.status)} · not reporting means ConnectionLost or no patch scan in ${m.compliance.staleAfterHours} h</p>
${summary(m)}
<p class="legend">patch bars:<span style="background:#2da44e"></span>compliant<span style="background:#cf222e"></span>non-compliant<span style="background:#d0d7de"></span>no scan</p>
<h2>Nodes per Region against the standard-tier limit</h2>${regionTable(m)}
<h2>Patch compliance per agency</h2><p><small>one column per agency, least compliant first; height is the share of its nodes compliant (hover for numbers)</small></p>${perAgencyChart(m.compliance.agencies)}
<h2>Sync failures, registration problems and read errors</h2>${problems(m)}
<h2>Agencies</h2>${agencyTable(m)}
<script type="application/json" id="report-model">${data}</script>
</body></html>
`;
}
