// Builds dist/openc2-agent.mjs: one minified ESM file holding the agent and every npm
// dependency, with a separate source map. The only file it needs beside it is the
// native dataplane module (openc2-dataplane.<platform>.node), loaded at run time.
import { build } from 'esbuild';
import { readFileSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const outfile = new URL('dist/openc2-agent.mjs', root).pathname;
const shim = (name) => new URL(`build/shims/${name}`, root).pathname;

await build({
  entryPoints: [new URL('agent/main.ts', root).pathname],
  outfile,
  bundle: true,
  minify: true,
  sourcemap: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  define: { __OPENC2_VERSION__: JSON.stringify(version) },
  // Bundled CommonJS dependencies (mqtt, cbor-x) call require(); give ESM one.
  banner: {
    js: `#!/usr/bin/env node\n// openc2-agent ${version}\nimport { createRequire as __openc2CreateRequire } from 'node:module'; const require = __openc2CreateRequire(import.meta.url);`,
  },
  // cbor-x tries an optional native accelerator; the bundle uses its JS path.
  external: ['cbor-extract'],
  // Keep the bundle small for 128 MB routers: Node's own stream module instead of a browser
  // copy of it, and no WebSocket or SOCKS code (the agent speaks mqtt:// and mqtts:// only).
  // mqtt-packet's parser gets a byte list that reads in place (shims/buffer-list.cjs says why).
  alias: {
    bl: shim('buffer-list.cjs'),
    'readable-stream': shim('readable-stream.cjs'),
    ws: shim('absent.cjs'),
    socks: shim('absent.cjs'),
    'worker-timers': shim('worker-timers.cjs'),
    debug: shim('debug.cjs'),
  },
  logLevel: 'warning',
});
console.log(`bundle: ${outfile} ${statSync(outfile).size} bytes`);
