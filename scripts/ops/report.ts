// `ssm-hub report`: one self-contained HTML page about the hub. Its data is the status model
// (status.ts's own reads and findings, printed through status's own --json writer) and the
// compliance model (compliance.ts's reads): no query path of its own.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { makeClients, resolveRegion } from './aws.ts';
import { defaultContext, defineCommand, EXIT, progress, runCommand, text, UsageError } from '../kit/index.ts';
import { type Context, type Values } from '../kit/index.ts';
import { AWS_OPTIONS, callAsOption, centralStackOption, flagPath, loadConfig } from './common.ts';
import { readStatus, reportStatus, statusFindings, statusPlan, type StatusReport } from './status.ts';
import { AGENCY_FILTER, readCompliance, REGIONS_OPTION, STALE_OPTION } from './compliance.ts';
import { fleetKeys } from './fleet.ts';
import { renderReport, type ReportModel, type StatusDocument } from './report-html.ts';
import { reportModelProblem } from './report-model.ts';

export const spec = defineCommand({
  summary:
    'Write one self-contained HTML page: agencies and their activation expiry, nodes per agency and Region against the tier limit, sync failures and registration problems, patch compliance charts, and when it was made.',
  name: 'report',
  usage: ['[--out FILE] [--agency …] [--regions r1,r2] [options]', '--from MODEL.json [--out FILE]'],
  options: [
    text('out', { arg: 'FILE', help: 'where to write the page', defaultText: 'ssm-hub-report.html' }),
    text('from', { arg: 'FILE', help: 'draw the page from a model saved with `report --json` (no AWS call)' }),
    AGENCY_FILTER,
    REGIONS_OPTION,
    STALE_OPTION,
    centralStackOption('central stack name'),
    callAsOption('how to read the StackSet'),
    ...AWS_OPTIONS,
  ],
  notes: [
    'The page runs no script and loads nothing: it opens from a file. --json prints the model instead of writing the page.',
  ],
});

/** Exactly what `status --json` prints for this report (status's own writer, captured). */
export function statusDocument(report: StatusReport): StatusDocument {
  let out = '';
  const capture = { ...defaultContext(), stdout: (t: string) => void (out += t), stderr: () => undefined };
  reportStatus(capture, report, true);
  return JSON.parse(out) as StatusDocument;
}

/** Reads both models from AWS: status's reads, then compliance's. */
async function readModel(ctx: Context, o: Values<typeof spec.options>): Promise<ReportModel> {
  const { config, names } = loadConfig(ctx, o.config);
  const region = await resolveRegion(ctx, o.region, o.profile);
  const clients = makeClients(ctx, o.profile);
  const regions = o.regions ?? [region];
  const data = await readStatus(
    ctx,
    clients,
    region,
    statusPlan(config, names, {
      agencies: o.agency,
      nodeRegions: regions,
      centralStack: o['central-stack'],
      callAs: o['call-as'],
    }),
  );
  const status = statusDocument(statusFindings(data, config, ctx.now()));
  const compliance = await readCompliance(ctx, clients, {
    regions,
    agencies: o.agency,
    keys: fleetKeys(config.reservedTagPrefix),
    staleAfterHours: o['stale-hours'],
  });
  return { generatedAt: ctx.now().toISOString(), status, compliance } satisfies ReportModel;
}

function loadModel(file: string): ReportModel {
  let m: ReportModel;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as ReportModel;
  } catch (err) {
    throw new UsageError(`--from: cannot read ${file} as JSON: ${(err as Error).message}`, { cause: err });
  }
  const problem = reportModelProblem(m);
  if (problem) throw new UsageError(`--from: ${file} is not a report model: ${problem} (save one with report --json)`);
  return m;
}

/** Write-then-rename, so a reader never sees half a page. */
export function writePage(file: string, html: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, html);
  renameSync(`${file}.tmp`, file);
}

export async function main(argv: string[], ctx: Context = defaultContext()): Promise<number> {
  return runCommand(spec, argv, ctx, async (o) => {
    const model = o.from ? loadModel(flagPath(ctx, o.from, '')) : await readModel(ctx, o);
    if (o.json) {
      ctx.stdout(`${JSON.stringify(model, null, 2)}\n`);
    } else {
      const file = flagPath(ctx, o.out, 'ssm-hub-report.html');
      writePage(file, renderReport(model));
      progress(ctx, `wrote ${file}`);
      ctx.stdout(`${file}\n`);
    }
    const errors = model.status.errors.length + model.compliance.errors.length;
    return errors ? EXIT.failed : EXIT.ok;
  });
}
