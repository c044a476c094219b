import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inNs } from './netns.js';

/** The built bundle, as shipped. `npm test` builds it first (pretest). */
export const BUNDLE = fileURLToPath(new URL('../../dist/openc2-agent.mjs', import.meta.url));

export interface AgentProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first line matching `pattern`; rejects after `timeoutMs` or when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends SIGTERM (or `signal`) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node <nodeFlags> <script> <args>` and collects its output. The caller stops it (t.teardown).
 * `netns`: in that network namespace, through nsenter (which execs, so the child is node itself).
 */
export function startAgent(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; script?: string; nodeFlags?: readonly string[]; uid?: number; gid?: number; netns?: string } = {},
): AgentProcess {
  const node = [process.execPath, ...(options.nodeFlags ?? []), options.script ?? BUNDLE, ...args];
  const [command, ...argv] = options.netns ? inNs(options.netns, node) : node;
  const child = spawn(command!, argv, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  let text = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer): void => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = text.match(pattern);
          if (match) done(() => resolve(match));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; output:\n${text}`))), timeoutMs);
        const onExit = (): void => done(() => reject(new Error(`agent exited (${child.exitCode}) before ${pattern}; output:\n${text}`)));
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
          settle();
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the bundle to completion: for one-shot commands (version, check-config). */
export async function runAgent(args: readonly string[], options: Parameters<typeof startAgent>[1] = {}): Promise<{ code: number | null; output: string }> {
  const agent = startAgent(args, options);
  const code = await new Promise<number | null>((resolve) => agent.child.once('exit', (c) => resolve(c)));
  return { code, output: agent.output() };
}
