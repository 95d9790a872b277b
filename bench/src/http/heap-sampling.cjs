// Preloaded into a bench server (`--require`) when `HEAP_PROFILE=<file>` is set (interleave.ts):
// samples every allocation, kept or collected, and counts the requests served meanwhile, so
// allocations.ts can tell bytes allocated per request. Sampling starts at the server's 5000th request,
// past startup and most compilation (whose allocations would otherwise be charged to the requests),
// and is written when the server exits.
const { Session } = require("node:inspector");
const { subscribe } = require("node:diagnostics_channel");
const { writeFileSync } = require("node:fs");

const session = new Session();
session.connect();
session.post("HeapProfiler.enable");
const WARM_UP_REQUESTS = 5000;
let seen = 0;
let requests = 0;
subscribe("http.server.request.start", () => {
  seen++;
  if (seen > WARM_UP_REQUESTS) requests++;
  else if (seen === WARM_UP_REQUESTS) {
    session.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
});
process.on("exit", () => {
  if (requests === 0) return;
  // An in-process session answers synchronously.
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (error) throw error;
    writeFileSync(process.env.HEAP_PROFILE, JSON.stringify({ requests, profile: result.profile }));
  });
});
