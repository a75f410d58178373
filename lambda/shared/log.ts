// Structured logging and CloudWatch embedded-metric-format (EMF) records. The functions run
// with LoggingConfig.LogFormat JSON; one JSON object per line keeps both readable and queryable.
// Never pass an activation code to these functions: nothing here can know what is secret.

type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface LogSink {
  (line: string): void;
}

let sink: LogSink = (line) => process.stdout.write(`${line}\n`);

/** Tests capture log lines through this. */
export function setLogSink(next: LogSink): void {
  sink = next;
}

export function log(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  sink(JSON.stringify({ level, message, ...fields, timestamp: new Date().toISOString() }));
}

/** A security event: a refused identity or ownership claim. Always logged at WARN with event=security. */
export function securityEvent(message: string, fields: Record<string, unknown>): void {
  log('WARN', message, { event: 'security', ...fields });
}

export type MetricUnit = 'Count' | 'Milliseconds' | 'None';

/** Emits metrics as one EMF record; CloudWatch turns it into metrics without an API call. */
export function emitMetrics(
  namespace: string,
  dimensions: Record<string, string>,
  metrics: Record<string, { value: number; unit?: MetricUnit }>,
): void {
  const names = Object.keys(metrics);
  if (names.length === 0) return;
  const record: Record<string, unknown> = {
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [
        {
          Namespace: namespace,
          Dimensions: [Object.keys(dimensions)],
          Metrics: names.map((n) => ({ Name: n, Unit: metrics[n]!.unit ?? 'Count' })),
        },
      ],
    },
    ...dimensions,
  };
  for (const n of names) record[n] = metrics[n]!.value;
  sink(JSON.stringify(record));
}
