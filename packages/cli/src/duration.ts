import { usage } from "./errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * A duration as operators write it: `500ms`, `90s`, `5m`, `1h30m`, `2d` (one or more number-and-unit
 * parts, units ms, s, m, h, d), in milliseconds. A bare number is refused: `5` could mean anything.
 */
export function parseDuration(option: string, text: string): number {
  let total = 0;
  PART.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    PART.lastIndex = at;
    const match = PART.exec(text);
    if (match === null) break;
    total += Number(match[1]) * (UNITS[match[2] as string] as number);
    at = PART.lastIndex;
  }
  if (text.length === 0 || at !== text.length || !Number.isFinite(total)) {
    throw usage(
      `${option} takes a duration such as 30s, 5m, 1h30m or 2d (units ms, s, m, h, d); got ${JSON.stringify(text)}`,
    );
  }
  return Math.round(total);
}

/** `ms` as a short age or delay for people: `850ms`, `42s`, `12m`, `3h5m`, `2d4h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1_000) return `${Math.round(abs)}ms`;
  if (abs < 60_000) return `${Math.floor(abs / 1_000)}s`;
  if (abs < 3_600_000) return `${Math.floor(abs / 60_000)}m`;
  if (abs < 86_400_000) {
    const minutes = Math.floor((abs % 3_600_000) / 60_000);
    return `${Math.floor(abs / 3_600_000)}h${minutes ? `${minutes}m` : ""}`;
  }
  const hours = Math.floor((abs % 86_400_000) / 3_600_000);
  return `${Math.floor(abs / 86_400_000)}d${hours ? `${hours}h` : ""}`;
}
