// Run in a fresh process by build-bench.ts: times the phases of one build and prints them as JSON.
// usage: node --import tsx scripts/bench/probe-build.ts <scratch out dir>
const t0 = performance.now();
const build = await import('../build/index.ts');
const { loadBuildConfig } = await import('../../templates-src/config.ts');
const { bundleAllLambdas, PROJECT_ROOT } = await import('../build/bundle.ts');
const { join } = await import('node:path');
const t1 = performance.now();
const output = await build.renderAll(loadBuildConfig(join(PROJECT_ROOT, 'build.config.json')));
const t2 = performance.now();
build.writeGenerated(process.argv[2]!, output);
const t3 = performance.now();
// Bundling again without the build cache, now that esbuild's service is running: how much a
// changed Lambda source costs esbuild.
process.env.SSM_HUB_BUILD_CACHE = 'off';
await bundleAllLambdas();
const t4 = performance.now();
process.stdout.write(
  `${JSON.stringify({ importMs: t1 - t0, renderMs: t2 - t1, writeMs: t3 - t2, bundleWarmMs: t4 - t3 })}\n`,
);
