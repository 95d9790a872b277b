/** Why an operation failed: Redis unreachable, too slow, or an error reply. The outcome is unknown. */
export class RedisStoreError extends Error {
  override readonly name = "RedisStoreError";
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`idemkit redis store: ${operation} failed: ${message}`, options);
  }
}
