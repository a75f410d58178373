// Small pure helpers for the benchmark's numbers.

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** 12,345 */
export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');

/** Milliseconds as "850 ms", "12.3 s", "41 min", "3.2 h". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export const mib = (kib: number): string => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(0)} MiB` : 'n/a');

/** "12.5×" for a ratio; "∞" when the denominator is zero and the numerator is not. */
export function ratio(num: number, den: number): string {
  if (den === 0) return num === 0 ? '1×' : '∞';
  const r = num / den;
  return `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

export const sum = (o: Record<string, number>, keys?: readonly string[]): number =>
  (keys ?? Object.keys(o)).reduce((a, k) => a + (o[k] ?? 0), 0);
