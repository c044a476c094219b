import { readFileSync } from 'node:fs';

declare const __OPENC2_VERSION__: string | undefined;

/** The agent's version: stamped into the bundle by build/bundle.mjs, read from package.json when run from sources. */
export const VERSION: string =
  typeof __OPENC2_VERSION__ === 'string'
    ? __OPENC2_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
