/** What a context reads its `signal` through: a lease, or the context of an outer run. */
export interface SignalSource {
  readonly signal: AbortSignal;
}

/**
 * The context handed to work: its fields as own properties, and `signal` an own enumerable getter
 * (so spreading or destructuring the context reads it) that reads `source.signal`, so a lease's
 * `AbortController` is made only if the work looks.
 *
 * One getter for every context, not one per object: an object literal's `get signal() {}` is a new
 * function each time, and V8 then gives every such object a hidden class of its own, made in old
 * space and keeping young objects alive through collections (measured: half the CPU of a `run()` on
 * a store that answers at once went to collecting that garbage).
 */
class WorkContext {
  readonly #source: SignalSource;

  constructor(fields: object, source: SignalSource) {
    this.#source = source;
    Object.assign(this, fields);
    Object.defineProperty(this, "signal", SIGNAL);
  }

  static signalOf(context: WorkContext): AbortSignal {
    return context.#source.signal;
  }
}

const SIGNAL: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: WorkContext) {
    return WorkContext.signalOf(this);
  },
};

/** `fields` and a `signal` read through to `source` on use, in one object (see `WorkContext`). */
export function workContext<F extends object>(
  fields: F,
  source: SignalSource,
): F & { readonly signal: AbortSignal } {
  return new WorkContext(fields, source) as unknown as F & { readonly signal: AbortSignal };
}
