#!/usr/bin/env node
// Runs each command given, in turn, even after one fails, and exits with failure if any did: `pnpm test`
// runs the tests at a terminal after the parallel part, and a failure there must not hide what they find.
import { spawnSync } from "node:child_process";

let failed = 0;
for (const command of process.argv.slice(2)) {
  const run = spawnSync(command, { shell: true, stdio: "inherit" });
  if (run.status !== 0) {
    failed++;
    console.error(`run-each: \`${command}\` failed (${run.status ?? run.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
