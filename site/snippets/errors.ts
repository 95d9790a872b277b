import { createIdempotency, createMemoryStore, type Problem } from "@idemkit/core";
import { accountIdOf } from "./your-app.js";

// #region render
// Your API's error envelope: { error: { code, message } }, for every answer idemkit makes itself.
const renderProblem = (problem: Problem) => ({
  headers: { "content-type": "application/json" }, // Retry-After on 409/503 is kept
  body: JSON.stringify({
    error: { code: problem.type, message: problem.detail, ...problem.members },
  }),
});

const idem = createIdempotency({
  store: createMemoryStore(),
  scope: (request) => accountIdOf(request),
  renderProblem, // or per integration: idempotency(idem, { scope, renderProblem })
});
// #endregion render

// #region events
idem.on((event) => {
  if (event.type === "store-error" || event.type === "lease-lost") console.warn("idemkit", event);
});
// #endregion events
