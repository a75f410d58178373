// One finding shape for every linter, so `npm run lint` prints a single table.
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  tool: string;
  file: string;
  location: string;
  rule: string;
  severity: Severity;
  message: string;
}

export interface Suppression {
  rule: string;
  template?: string;
  resource?: string;
  reason: string;
}

export function formatTable(findings: Finding[]): string {
  if (findings.length === 0) return '';
  const cols: Array<keyof Finding> = ['severity', 'tool', 'file', 'location', 'rule', 'message'];
  const widths = cols.map((c) => Math.min(60, Math.max(c.length, ...findings.map((f) => String(f[c]).length))));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [
    line(cols.map((c) => c.toUpperCase())),
    ...findings.map((f) => line(cols.map((c) => String(f[c]).replace(/\s+/g, ' ')))),
  ].join('\n');
}
