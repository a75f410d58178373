// Console quick-create links and S3 object URLs. Pure functions: no AWS call, no credentials.
import { isNoEcho, type TemplateJson } from './generated.ts';
import { partitionOf } from './aws.ts';

function s3Domain(region: string): string {
  return partitionOf(region) === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** The HTTPS URL CloudFormation fetches a template from. Dotted bucket names use path style (TLS). */
export function s3ObjectUrl(bucket: string, region: string, key: string): string {
  const path = key.split('/').map(encodeURIComponent).join('/');
  return bucket.includes('.')
    ? `https://s3.${region}.${s3Domain(region)}/${bucket}/${path}`
    : `https://${bucket}.s3.${region}.${s3Domain(region)}/${path}`;
}

export function cloudFormationConsole(region: string): string {
  switch (partitionOf(region)) {
    case 'aws-us-gov':
      return `https://console.amazonaws-us-gov.com/cloudformation/home?region=${region}`;
    case 'aws-cn':
      return `https://${region}.console.amazonaws.cn/cloudformation/home?region=${region}`;
    default:
      return `https://${region}.console.aws.amazon.com/cloudformation/home?region=${region}`;
  }
}

export interface QuickCreateInput {
  region: string;
  templateUrl: string;
  stackName?: string;
  /** Parameter values to prefill. Names not declared by the template are refused. */
  params: Record<string, string | undefined>;
  /** The template, so NoEcho parameters are recognised from the template itself. */
  template: TemplateJson;
}

/**
 * A console quick-create link. Every value is URL-encoded; NoEcho parameters are never put in a
 * URL (the console refuses them and a URL ends up in browser history and logs): they are skipped
 * and reported.
 */
export function quickCreateLink(input: QuickCreateInput): { url: string; skippedNoEcho: string[] } {
  const declared = input.template.Parameters ?? {};
  const parts = [`templateURL=${encodeURIComponent(input.templateUrl)}`];
  if (input.stackName) parts.push(`stackName=${encodeURIComponent(input.stackName)}`);
  const skippedNoEcho: string[] = [];
  for (const [name, value] of Object.entries(input.params)) {
    if (value === undefined) continue;
    if (!Object.hasOwn(declared, name)) throw new Error(`template has no parameter ${name}`);
    if (isNoEcho(declared[name])) {
      skippedNoEcho.push(name);
      continue;
    }
    parts.push(`param_${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  }
  return { url: `${cloudFormationConsole(input.region)}#/stacks/create/review?${parts.join('&')}`, skippedNoEcho };
}

export interface LaunchLink {
  region: string;
  template: string;
  stackName: string;
  deployIn: string;
  url: string;
}

/** generated/launch-links.md: one Markdown table per Region. */
export function launchLinksMarkdown(links: LaunchLink[], note: string[]): string {
  const regions = [...new Set(links.map((l) => l.region))];
  const out = [
    '# Launch links',
    '',
    "Written by `ssm-hub publish`. Each link opens the CloudFormation console's quick-create page with the",
    'template URL, stack name and known parameters filled in. Deploy the central stack first.',
    ...(note.length ? ['', ...note] : []),
  ];
  for (const region of regions) {
    out.push('', `## ${region}`, '', '| Stack | Deploy in | Template | Launch |', '| --- | --- | --- | --- |');
    for (const l of links.filter((x) => x.region === region)) {
      out.push(`| \`${l.stackName}\` | ${l.deployIn} | ${l.template} | [Launch stack](${l.url}) |`);
    }
  }
  return `${out.join('\n')}\n`;
}
