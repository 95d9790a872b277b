#!/usr/bin/env node
// Runs each command given, in turn, even after one fails, and exits with failure if any did: `pnpm test`
// runs the tests at a terminal after the parallel part, and a failure there must not hide what they find.
//
// Arguments from the first one that starts with `-` on (a leading `--` dropped) are what pnpm appends
// (`pnpm test --filter @idemkit/core`): they go to the first command, quoted for the shell. A signal sent
// to this process goes to the command running, and stops the sequence, as one that stops the command does.
import { spawn } from "node:child_process";

const argv = process.argv.slice(2);
const cut = argv.findIndex((arg) => arg.startsWith("-"));
const commands = cut === -1 ? argv : argv.slice(0, cut);
const extra = cut === -1 ? [] : argv.slice(cut).filter((arg, i) => !(i === 0 && arg === "--"));
const quoted = (arg) => `'${arg.replaceAll("'", `'\\''`)}'`;
if (extra.length > 0 && commands.length > 0) commands[0] += ` ${extra.map(quoted).join(" ")}`;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
let child;
let stoppedBy;
for (const signal of SIGNALS) {
  process.on(signal, () => {
    stoppedBy ??= signal;
    // To the command's whole process group: a shell's own children too.
    if (child?.pid !== undefined) {
      try {
        process.kill(-child.pid, signal);
      } catch {}
    }
  });
}

let failed = 0;
for (const command of commands) {
  if (stoppedBy !== undefined) break;
  // A process group of its own, so that a signal reaches everything the command started.
  child = spawn(command, { shell: true, stdio: "inherit", detached: true });
  const [status, signal] = await new Promise((resolve) => {
    child.on("error", (error) => {
      console.error(`run-each: \`${command}\` could not start: ${error.message}`);
      resolve([1, null]);
    });
    child.on("exit", (code, killedBy) => resolve([code, killedBy]));
  });
  child = undefined;
  if (status !== 0) {
    failed++;
    console.error(`run-each: \`${command}\` failed (${signal ?? status})`);
  }
  // Stopped by a signal (Ctrl-C, a supervisor), the commands after it do not run.
  if (signal !== null || status === 130 || status === 143) stoppedBy ??= signal ?? "SIGINT";
}
if (stoppedBy !== undefined) {
  console.error(`run-each: stopped by ${stoppedBy}`);
  process.exit(128 + (stoppedBy === "SIGTERM" ? 15 : stoppedBy === "SIGHUP" ? 1 : 2));
}
process.exit(failed === 0 ? 0 : 1);
