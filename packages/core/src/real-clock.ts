type Timer = ReturnType<typeof setTimeout> & { ref?: () => unknown; unref?: () => unknown };

export type { Timer };

// The timer functions and clock as they were when this module loaded: the engine's shared timers run on
// these only, so fake timers a test installs or removes later do not move them (a test that fakes them
// before core loads runs them on its fake clock).
export const realSetTimeout = setTimeout;
export const realClearTimeout = clearTimeout;
const realPerformance = performance;
const realNow = performance.now;
export const now = (): number => realNow.call(realPerformance);

/**
 * Whether a test has replaced the timers or the clock since this module loaded (fake timers): the shared
 * timers then give each caller a timer of its own on the fake clock. The global `performance` is read
 * once: in Node it is an accessor, a call for each read.
 */
export const faked = (): boolean => {
  if (setTimeout !== realSetTimeout) return true;
  const clock = performance;
  return clock !== realPerformance || clock.now !== realNow;
};
