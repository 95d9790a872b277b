import {
  type Codec,
  decodeDefaultJson,
  defaultCodec,
  encodeDefault,
  encodeDefaultAsText,
  NOT_JSON,
} from "./codec.js";
import type { ClaimDecision, Engine } from "./engine.js";
import { ConflictError, MismatchError, NotReplayableError } from "./errors.js";
import { type CallOutcome, OUTCOME_OF_DECISION } from "./events.js";
import { canonicalJson, hashesAtOnce, sha256HexSoon } from "./fingerprint.js";
import { waitOption } from "./http/policy.js";
import { composeStoredKey } from "./key.js";
import { RESULT_TEXT_ESCAPE } from "./result-text.js";

export interface RunOptions<T> {
  /** The idempotency key of this unit of work (a message id, a job id…). */
  key: string;
  /** Scope the key belongs to (tenant, user); keys of different scopes never meet. */
  scope?: string;
  /**
   * Names the work in events, traces and metrics (`charge-card`): keep it to a few fixed values. It
   * does not separate keys (`scope` does).
   */
  name?: string;
  /** What the work is applied to: hashed canonically; a reused key with other input is a mismatch. */
  input?: unknown;
  /** A ready-made fingerprint, instead of `input`. */
  fingerprint?: string;
  /** Encodes the result for replay. Default: JSON, with `Uint8Array` kept byte for byte. */
  codec?: Codec<T>;
  /** Wait for an in-flight first attempt instead of throwing `ConflictError`. */
  waitForInFlight?: boolean | { timeoutMs?: number; pollMs?: number };
}

export interface RunContext {
  /** Grows with every claim of the key: pass it downstream to reject a stale owner. */
  fence: number;
  /** Fires when the lease is lost mid-work. */
  signal: AbortSignal;
}

export interface RunResult<T> {
  value: T;
  /** `true` when the value came from the stored outcome and the work did not run. */
  replayed: boolean;
}

// One envelope byte before the codec's bytes, so no codec output can pass for the marker of a value
// that could not be encoded (the work ran, but it cannot be replayed).
const ENCODED = 0;
const ENCODED_HEAD = "\u0000";
/** ENCODED as a store's result text writes it (NUL as DLE "0"). */
const ENCODED_TEXT = `${RESULT_TEXT_ESCAPE}0`;
const UNENCODABLE = 1;

/**
 * Runs `work` at most once per key (per lease), stores its value and returns the stored value to
 * every later call with the same key. Throws `ConflictError`, `MismatchError`,
 * `StoreUnavailableError` (fail closed: the work did not run) or `NotReplayableError`.
 */
export async function executeOnce<T>(
  engine: Engine,
  keyPrefix: string,
  options: RunOptions<T>,
  work: (context: RunContext) => T | Promise<T>,
): Promise<RunResult<T>> {
  // Only the `finished` event reads it: unheard, a call does without, unless hashing its input waits
  // (Web Crypto), long enough for a listener to come.
  const started = engine.listening || !hashesAtOnce ? performance.now() : undefined;
  if (typeof options.key !== "string" || options.key.length === 0) {
    throw new TypeError("run() needs a non-empty string key");
  }
  if (options.name !== undefined && typeof options.name !== "string") {
    throw new TypeError("run() name must be a string");
  }
  if (options.fingerprint !== undefined && typeof options.fingerprint !== "string") {
    throw new TypeError("run() fingerprint must be a string");
  }
  let fingerprint = options.fingerprint;
  if (fingerprint === undefined) {
    const hashed = options.input === undefined ? "" : sha256HexSoon(canonicalJson(options.input));
    fingerprint = typeof hashed === "string" ? hashed : await hashed;
  }
  const storedKey = composeStoredKey(keyPrefix, "run", options.scope ?? "", options.key);
  if (!engine.listening) return once(engine, storedKey, fingerprint, options, work, undefined);
  // A listener that subscribed while the input was read (a getter, a toJSON): counted from now.
  const from = started ?? performance.now();
  // Until the claim decides, a throw is the store's (the claim fails closed).
  const report: RunReport = { outcome: "unavailable", fence: undefined };
  let error: unknown;
  try {
    return await once(engine, storedKey, fingerprint, options, work, report);
  } catch (thrown) {
    error = thrown;
    throw thrown;
  } finally {
    const { outcome, fence } = report;
    engine.emit({
      type: "finished",
      key: storedKey,
      outcome,
      durationMs: performance.now() - from,
      ...(fence !== undefined && { fence }),
      ...(options.name !== undefined && { name: options.name }),
      ...((outcome === "failed" || outcome === "unavailable") && { error }),
    });
  }
}

/** How a `run()` call is going, for its `finished` event: set as the call decides. */
interface RunReport {
  outcome: CallOutcome;
  fence: number | undefined;
}

async function once<T>(
  engine: Engine,
  storedKey: string,
  fingerprint: string,
  options: RunOptions<T>,
  work: (context: RunContext) => T | Promise<T>,
  report: RunReport | undefined,
): Promise<RunResult<T>> {
  const codec = (options.codec ?? defaultCodec) as Codec<T>;
  const wait = waitOption(options.waitForInFlight);
  const decision = wait
    ? await engine.claimOrWait(storedKey, fingerprint, wait.timeoutMs, wait.pollMs)
    : await engine.claim(storedKey, fingerprint);

  if (decision.kind !== "acquired") {
    if (report) report.outcome = OUTCOME_OF_DECISION[decision.kind];
    return answer(options.key, decision, codec);
  }
  const { lease } = decision;
  if (report) {
    report.outcome = "failed";
    report.fence = lease.fence;
  }
  const value = await lease.run(work);
  // The work ran: whatever comes of storing its value, this call executed it.
  if (report) report.outcome = "executed";
  let encoded: Uint8Array | string;
  try {
    if (codec === defaultCodec) {
      encoded = engine.completesWithText
        ? encodeDefaultAsText(value, ENCODED_HEAD, ENCODED_TEXT)
        : encodeDefault(value, ENCODED_HEAD);
    } else {
      const bytes = codec.encode(value);
      encoded = new Uint8Array(bytes.length + 1);
      encoded[0] = ENCODED;
      encoded.set(bytes, 1);
    }
  } catch {
    // The work has run: never release it for a second run; mark it instead.
    encoded = Uint8Array.of(UNENCODABLE);
  }
  if ((await lease.complete(encoded)) === "lease-lost") {
    // Another owner took the key over: answer as a retry would be answered (its value, or a
    // conflict while it works), never with a value the key's record contradicts.
    const now = await engine.current(storedKey, fingerprint);
    return answer(options.key, now ?? { kind: "conflict", record: undefined }, codec);
  }
  return { value, replayed: false };
}

/** The result, or the error, for a key this caller does not own. */
function answer<T>(
  key: string,
  decision: Exclude<ClaimDecision, { kind: "acquired" }> | { kind: "conflict"; record: undefined },
  codec: Codec<T>,
): RunResult<T> {
  switch (decision.kind) {
    case "mismatch":
      throw new MismatchError(key, decision.record);
    case "conflict":
      throw new ConflictError(key, decision.record);
    case "replay": {
      const { record } = decision;
      // A store's text, when it has one, spares the bytes: a JSON value holds no DLE, so a text that
      // starts with the envelope and has no escape after it is the value as it is (result-text.ts).
      const text = codec === defaultCodec ? record.resultText : undefined;
      if (text?.startsWith(ENCODED_TEXT) && text.indexOf(RESULT_TEXT_ESCAPE, ENCODED_TEXT.length) === -1) {
        const value = decodeDefaultJson(text, ENCODED_TEXT.length);
        if (value !== NOT_JSON) return { value: value as T, replayed: true };
      }
      const bytes = record.result;
      if (bytes[0] !== ENCODED) throw new NotReplayableError(key, "its value could not be encoded");
      return { value: codec.decode(bytes.subarray(1)), replayed: true };
    }
  }
}
