import { type Codec, defaultCodec, encodeDefault } from "./codec.js";
import type { ClaimDecision, Engine } from "./engine.js";
import { ConflictError, MismatchError, NotReplayableError } from "./errors.js";
import { canonicalJson, sha256Hex } from "./fingerprint.js";
import { waitOption } from "./http/policy.js";
import { composeStoredKey } from "./key.js";

export interface RunOptions<T> {
  /** The idempotency key of this unit of work (a message id, a job id…). */
  key: string;
  /** Scope the key belongs to (tenant, user); keys of different scopes never meet. */
  scope?: string;
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
  if (typeof options.key !== "string" || options.key.length === 0) {
    throw new TypeError("run() needs a non-empty string key");
  }
  const codec = (options.codec ?? defaultCodec) as Codec<T>;
  const fingerprint =
    options.fingerprint ?? (options.input === undefined ? "" : await sha256Hex(canonicalJson(options.input)));
  const storedKey = composeStoredKey(keyPrefix, "run", options.scope ?? "", options.key);
  const wait = waitOption(options.waitForInFlight);
  const decision = wait
    ? await engine.claimOrWait(storedKey, fingerprint, wait.timeoutMs, wait.pollMs)
    : await engine.claim(storedKey, fingerprint);

  if (decision.kind !== "acquired") return answer(options.key, decision, codec);
  const { lease } = decision;
  const value = await lease.run(work);
  let encoded: Uint8Array;
  try {
    if (codec === defaultCodec) {
      encoded = encodeDefault(value, ENCODED_HEAD);
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
      const bytes = decision.record.result;
      if (bytes[0] !== ENCODED) throw new NotReplayableError(key, "its value could not be encoded");
      return { value: codec.decode(bytes.subarray(1)), replayed: true };
    }
  }
}
