// my-store.test.ts — run with vitest 3 or 4: `npx vitest run my-store.test.ts`
import { runStoreConformance, skipUnlessAvailable } from "@idemkit/conformance";
import { createMyStore } from "./your-app.js";

runStoreConformance({
  name: "my-store",
  createStore: () => createMyStore({ url: process.env.MY_STORE_URL }), // called again for the races
  teardown: (store) => store.close?.(),
  timing: { leaseMs: 300, toleranceMs: 100 }, // widen toleranceMs for a coarse or remote clock
  skip: skipUnlessAvailable("my-store", process.env.MY_STORE_URL ? undefined : "MY_STORE_URL is not set"),
});
