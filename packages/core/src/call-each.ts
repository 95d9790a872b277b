/**
 * Calls `wake` on each item in turn, even after one throws, then rethrows the first throw: one timer
 * that wakes several waiters lets no waiter's failure skip the others.
 */
export function callEach<T>(items: readonly T[], wake: (item: T) => void): void {
  let failure: { error: unknown } | undefined;
  for (const item of items) {
    try {
      wake(item);
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure !== undefined) throw failure.error;
}
