import { expectRecord, fail, show } from "../assertions.js";
import { group } from "../context.js";

/** `ping` (optional): a health check that answers and changes nothing. */
export const ping = group(
  "ping",
  [
    [
      "answers",
      "ping resolves while the store answers, and changes nothing",
      async (t) => {
        const key = t.key("ping");
        const owner = t.claim();
        await t.store.claim(key, owner);
        const before = await t.store.get(key);
        const answer = await t.store.ping?.();
        if (answer !== undefined) fail(`ping resolved with ${show(answer)}, expected undefined`);
        expectRecord(
          await t.store.get(key),
          {
            state: "in_progress",
            token: owner.token,
            fence: 1,
            leaseExpiresAt: before?.state === "in_progress" ? before.leaseExpiresAt : -1,
          },
          "get after ping",
        );
      },
    ],
  ],
  { needs: "ping" },
);
