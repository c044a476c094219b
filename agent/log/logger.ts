/** Structured logger: one line per event to stdout (debug/info) or stderr (warn/error), so procd and systemd capture it. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line, e.g. `{ component: 'mqtt' }`. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  format: 'text' | 'json';
  /** Where lines go; tests pass a collector. */
  write?: (level: LogLevel, line: string) => void;
}

function writeToStdio(level: LogLevel, line: string): void {
  (RANK[level] >= RANK.warn ? process.stderr : process.stdout).write(line + '\n');
}

function render(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? String(value);
}

export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const write = options.write ?? writeToStdio;
  const threshold = RANK[options.level];
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < threshold) return;
    const all = { ...bound, ...fields };
    const time = new Date().toISOString();
    if (options.format === 'json') {
      write(level, JSON.stringify({ time, level, msg, ...all }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v)));
    } else {
      const tail = Object.entries(all).map(([k, v]) => ` ${k}=${render(v)}`).join('');
      write(level, `${time} ${level.toUpperCase().padEnd(5)} ${msg}${tail}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}
