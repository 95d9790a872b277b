// Test support, neither built nor published: a handler held until the test lets it go.
export interface Gate {
  /** Resolves once the handler has entered. */
  entered: Promise<void>;
  /** What the handler awaits. */
  wait(): Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let enter!: () => void;
  let open!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    entered,
    wait: () => {
      enter();
      return opened;
    },
    open,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calls `attempt` until `done` says so, at most `tries` times, `pauseMs` apart; the last result. */
export async function retryUntil<T>(
  attempt: () => Promise<T>,
  done: (result: T) => boolean,
  tries = 200,
  pauseMs = 25,
): Promise<T> {
  let result = await attempt();
  for (let i = 1; i < tries && !done(result); i++) {
    await sleep(pauseMs);
    result = await attempt();
  }
  return result;
}
