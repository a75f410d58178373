// The report page in a real browser: Debian's chromium, headless, driven by playwright-core, opened
// from a file as an operator would. Every agency row is in the DOM, the charts are there, nothing
// is logged as an error and nothing is requested beyond the file itself, for 1 agency and for 300
// agencies with 10,000 nodes (loaded within 2 seconds). Screenshots go to .tmp/ for review.
// CI installs chromium (.ci/run), so there a missing browser is a failure, never a skip.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { renderReport } from '../../scripts/ops/report-html.ts';
import { PROJECT_ROOT } from '../../scripts/kit/index.ts';
import { fixtureModel } from './report-fixture.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
const inCi = !/^(|0|false)$/i.test(process.env['CI'] ?? '');
if (!available && !inCi)
  console.warn(`\n*** ${CHROMIUM} is missing: the report browser tests are SKIPPED (apt-get install chromium). ***\n`);

describe.runIf(!available && inCi)('chromium in CI', () => {
  it('is installed (CI installs it; without it the report page would go untested)', () => {
    expect.fail(`${CHROMIUM} is missing, but CI is set: install chromium (apt-get install chromium)`);
  });
});

describe.skipIf(!available)('report page in headless chromium', () => {
  let browser: BrowserContext;
  let profile: string;
  let dir: string;
  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
    dir = mkdtempSync(join(tmpdir(), 'report-page-'));
    // A fresh profile every run; playwright passes it as --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      timeout: 30_000,
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    { agencies: 1, nodes: 12 },
    { agencies: 12, nodes: 900 }, // the README's screenshot (docs/report.png) is this one
    { agencies: 300, nodes: 10_000 },
  ])(
    'shows all $agencies agencies and $nodes nodes with charts, no console error and no request, within 2 s',
    async ({ agencies, nodes }) => {
      const model = fixtureModel(agencies, nodes);
      const file = join(dir, `report-${agencies}.html`);
      writeFileSync(file, renderReport(model));
      const url = pathToFileURL(file).href;
      const page = await browser.newPage();
      const requests: string[] = [];
      const problems: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      const started = performance.now();
      await page.goto(url, { waitUntil: 'load' });
      const loadMs = performance.now() - started;

      const rows = await page.$$eval('tr.agency-row', (trs) => trs.map((tr) => tr.getAttribute('data-agency')));
      expect(rows).toEqual(model.status.agencies.map((a) => a.account));
      expect(await page.locator('tr.agency-row svg.chart.bar').count()).toBe(agencies);
      expect(await page.locator('tr.region-row svg.chart.limit').count()).toBe(model.status.regions.length);
      expect(await page.locator('#patch-total svg.chart rect').count()).toBeGreaterThan(0);
      expect(await page.locator('svg.chart.per-agency rect[data-agency]').count()).toBe(agencies);
      expect(await page.locator('#generated-at').getAttribute('datetime')).toBe(model.generatedAt);
      expect(problems).toEqual([]);
      expect(requests).toEqual([url]); // the file itself, nothing else
      expect(loadMs).toBeLessThan(2_000);

      mkdirSync(join(PROJECT_ROOT, '.tmp'), { recursive: true });
      await page.screenshot({ path: join(PROJECT_ROOT, '.tmp', `report-${agencies}.png`), fullPage: agencies < 50 });
      await page.close();
    },
    60_000,
  );

  it('blocks a fetch even if a value tried to add one (the page allows no fetch at all)', async () => {
    const model = fixtureModel(2, 10);
    const file = join(dir, 'report-csp.html');
    // A page that (wrongly) carried an image would still fetch nothing: default-src 'none'.
    writeFileSync(file, renderReport(model).replace('</body>', '<img src="https://example.invalid/x.png"></body>'));
    const page = await browser.newPage();
    const failed: string[] = [];
    const answered: string[] = [];
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => answered.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    expect(failed).toEqual(['https://example.invalid/x.png csp']);
    expect(answered.filter((u) => u.startsWith('http'))).toEqual([]);
    await page.close();
  }, 60_000);
});
