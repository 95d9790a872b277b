/** What a context reads its `signal` through: a lease, or the context of an outer run. */
export interface SignalSource {
  readonly signal: AbortSignal;
}

/** Where a context keeps its source: a symbol key, not enumerable, so no copy or comparison sees it. */
const SOURCE = Symbol("idemkit.signalSource");

type Carrier = { readonly [SOURCE]?: SignalSource };

/**
 * One getter for every context. It reads the source through `this`, so it also works on a Proxy of
 * the context or an object that inherits from it.
 */
const SIGNAL_PROPERTY: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: Carrier | undefined) {
    return this?.[SOURCE]?.signal;
  },
};

/**
 * The context handed to work: `fields`, a fresh plain object, becomes it, with `signal` an own
 * enumerable getter (so spreading or destructuring the context reads it) that reads `source.signal`,
 * so a lease's `AbortController` is made only if the work looks.
 *
 * One getter for every context, not one per object: an object literal's `get signal() {}` is a new
 * function each time, and V8 then gives every such object a hidden class of its own, made in old
 * space and keeping young objects alive through collections (measured: half the CPU of a `run()` on
 * a store that answers at once went to collecting that garbage). The object stays a plain one
 * (`Object.prototype`, no class), as the object literal was.
 */
export function workContext<F extends object>(
  fields: F,
  source: SignalSource,
): F & { readonly signal: AbortSignal } {
  Object.defineProperty(fields, SOURCE, { value: source });
  return Object.defineProperty(fields, "signal", SIGNAL_PROPERTY) as F & { readonly signal: AbortSignal };
}
