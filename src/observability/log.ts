import { currentTraceId } from "./context";

/**
 * One log shape everywhere: a single JSON object per line with `level`, `at` (what happened), `traceId`
 * (when the work has a trace) and the fields given. Workers Logs indexes each field.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

/** The line `log` writes; exported so tests can check the shape without capturing the console. */
export function logLine(level: LogLevel, at: string, fields: LogFields = {}, traceId = currentTraceId()): string {
  const { traceId: explicit, ...rest } = fields;
  const line: LogFields = { level, at, traceId: typeof explicit === "string" ? explicit : (traceId ?? null), ...rest };
  for (const [key, value] of Object.entries(line)) if (value instanceof Error) line[key] = value.message;
  return JSON.stringify(line);
}

const sinks: Record<LogLevel, (line: string) => void> = {
  debug: (l) => console.debug(l),
  info: (l) => console.log(l),
  warn: (l) => console.warn(l),
  error: (l) => console.error(l),
};

export const log = {
  debug: (at: string, fields?: LogFields) => sinks.debug(logLine("debug", at, fields)),
  info: (at: string, fields?: LogFields) => sinks.info(logLine("info", at, fields)),
  warn: (at: string, fields?: LogFields) => sinks.warn(logLine("warn", at, fields)),
  error: (at: string, fields?: LogFields) => sinks.error(logLine("error", at, fields)),
};
