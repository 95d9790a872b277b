import { describe } from "./options.js";

/**
 * `complete` was given an outcome that does not fit in one DynamoDB item (400 KB, the key, token,
 * fingerprint and deadlines included). Nothing was written: the key stays in progress under its owner
 * until the lease ends (core answers 503 and reports a store error), so a retry runs the work again.
 */
export class OutcomeTooLargeError extends Error {
  override readonly name = "OutcomeTooLargeError";
  readonly key: string;
  readonly bytes: number;
  constructor(key: string, bytes: number, cause: unknown) {
    super(
      `@idemkit/dynamodb: complete: the outcome of key ${describe(key)} (${bytes} bytes) does not fit in ` +
        "a DynamoDB item (400 KB with its other attributes); store large outcomes elsewhere (S3) and keep a reference",
      { cause },
    );
    this.key = key;
    this.bytes = bytes;
  }
}

/**
 * A claim found the key's item released by its own token: a late copy of a claim that was already answered
 * (core never claims again with a token it released). Nothing was written; there is no live owner to
 * report and none to become, so it rejects (core ignores the answer of a claim attempt it gave up on).
 */
export const lateClaim = (key: string) =>
  new Error(
    `@idemkit/dynamodb: claim: the item of key ${describe(key)} was claimed with this token already and ` +
      "released since: a late copy of an answered claim; nothing was written",
  );
