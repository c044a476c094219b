// Lets benchmarks run straight from TypeScript sources: `node --import ./test/bench/register.mjs test/bench/x.ts`.
// The same ts-node ESM loader tap's TypeScript plugin uses, without type checking (CI typechecks separately).
process.env.TS_NODE_TRANSPILE_ONLY ??= '1';
await import('@tapjs/typescript/import');
