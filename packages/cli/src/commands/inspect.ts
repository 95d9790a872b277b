import { decodeStoredResponse, type IdempotencyRecord } from "@idemkit/core";
import { EXIT } from "../errors.js";
import { json, printable, table, when } from "../output.js";
import type { Command } from "./context.js";

/** The HTTP response a completed HTTP key stored (status and headers), when its outcome is one. */
function response(result: Uint8Array) {
  try {
    const { status, statusText, headers, body, unreplayable } = decodeStoredResponse(result);
    return { status, statusText, headers, bodyBytes: body.length, ...(unreplayable && { unreplayable }) };
  } catch {
    return undefined; // a run() outcome, or bytes of another app
  }
}

/** `idemkit inspect <key>`: the live record (`get`), or exit 1 when the key has none. */
export const inspect: Command = async ({ invocation, open, io }) => {
  const key = invocation.key as string;
  const record: IdempotencyRecord | undefined = await open.store.get(key);
  if (record === undefined) {
    if (invocation.json) io.stdout(json({ key, found: false }));
    else io.stderr(`no live record at ${printable(key)} (never claimed, released, expired or purged)\n`);
    return EXIT.NOT_FOUND;
  }
  const now = io.now();
  if (record.state === "in_progress") {
    const { state, token, fingerprint, fence, leaseExpiresAt, takeover } = record;
    if (invocation.json) {
      io.stdout(
        json({ key, found: true, record: { state, token, fingerprint, fence, leaseExpiresAt, takeover } }),
      );
    } else {
      const rows = [
        ["key", printable(key)],
        ["state", "in_progress"],
        ["fence", String(fence)],
        ["token", token],
        ["fingerprint", printable(fingerprint)],
        ["lease ends", when(leaseExpiresAt, now)],
        ["takeover", takeover ? "yes (it replaced an expired lease)" : "no"],
      ];
      io.stdout(`${table(rows)}\n`);
    }
    return EXIT.OK;
  }
  const { state, token, fingerprint, fence, expiresAt, result } = record;
  const http = response(result);
  if (invocation.json) {
    const outcome = {
      bytes: result.length,
      ...(http && { response: http }),
      ...(invocation.outcome && { base64: Buffer.from(result).toString("base64") }),
    };
    io.stdout(json({ key, found: true, record: { state, token, fingerprint, fence, expiresAt, outcome } }));
    return EXIT.OK;
  }
  const summary = http
    ? `HTTP ${http.status}${http.statusText ? ` ${http.statusText}` : ""}, ${http.headers.length} header${http.headers.length === 1 ? "" : "s"}, ${http.bodyBytes}-byte body${http.unreplayable ? ` (not replayable: ${http.unreplayable})` : ""}`
    : "opaque bytes";
  const rows = [
    ["key", printable(key)],
    ["state", "completed"],
    ["fence", String(fence)],
    ["token", token],
    ["fingerprint", printable(fingerprint)],
    ["retention ends", when(expiresAt, now)],
    ["outcome", `${result.length} bytes: ${summary}`],
  ];
  if (invocation.outcome) rows.push(["outcome base64", Buffer.from(result).toString("base64")]);
  io.stdout(`${table(rows)}\n`);
  return EXIT.OK;
};
