/** What idemkit's client knows about a response it returned. */
export interface IdempotencyInfo {
  /** The key sent with every attempt of this operation. */
  key: string;
  /** The server answered with a stored outcome (`Idempotent-Replayed: true`): the work ran earlier. */
  replayed: boolean;
  /** Attempts made, from 1. */
  attempts: number;
}

const infos = new WeakMap<Response, IdempotencyInfo>();

export function remember(response: Response, info: IdempotencyInfo): Response {
  infos.set(response, info);
  return response;
}

/**
 * Key, attempts and replay flag of a response returned by `idempotentFetch` or a wrapped fetch;
 * for any other response, just whether the server marked it as a replay.
 */
export function idempotencyOf(response: Response): IdempotencyInfo | undefined {
  return infos.get(response);
}

/** Whether the server answered with a stored outcome rather than running the operation now. */
export function isReplayed(response: Response): boolean {
  return response.headers.get("idempotent-replayed") === "true";
}
