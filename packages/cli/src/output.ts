import { formatDuration } from "./duration.js";

/** Where the CLI writes, and what it reads from its process: injectable, for tests and embedding. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** The clock for ages and delays, in ms since the epoch. */
  now(): number;
}

/**
 * A key on one line of text output: printable characters as they are, everything else (NUL, newlines,
 * other controls, lone surrogates) as `\u{…}` escapes, and backslashes doubled, so that two keys never
 * print alike and a key cannot end a line early. JSON output has the keys exactly (JSON strings).
 */
export function printable(key: string): string {
  let out = "";
  for (const ch of key) {
    const code = ch.codePointAt(0) as number;
    if (ch === "\\") out += "\\\\";
    else if (
      code < 0x20 ||
      (code >= 0x7f && code < 0xa0) ||
      (code >= 0xd800 && code <= 0xdfff) ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      out += `\\u{${code.toString(16)}}`;
    } else out += ch;
  }
  return out;
}

/** A point in time as `2026-11-29T21:40:00.000Z (in 29s)` or `(12m ago)`. */
export function when(at: number, now: number): string {
  if (!Number.isFinite(at)) return String(at);
  const delta = at - now;
  return `${new Date(at).toISOString()} (${delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`})`;
}

/** Rows of cells as left-aligned columns (the last column as it is). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] as number))).join("  "),
    )
    .join("\n");
}

/** One JSON document on its own line. */
export const json = (value: unknown) => `${JSON.stringify(value)}\n`;
