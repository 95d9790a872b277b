/**
 * Whether `value` has a callable `then`: how a promise from another library, realm or a replaced global
 * `Promise` (bluebird, zone.js) is told apart, where `instanceof Promise` would miss it.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}
