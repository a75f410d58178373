#!/usr/bin/env node
// The package's bin: the bundled CLI (generated/cli/ssm-hub.mjs, written by `npm run build`), run
// by plain Node, so an install without devDependencies works. `npm run hub` runs the sources.
import '../../generated/cli/ssm-hub.mjs';
