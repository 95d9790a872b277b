import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createRequire } from "node:module";

/** dynalite's own version, for the report. */
export const DYNALITE_VERSION = (
  createRequire(import.meta.url)("dynalite/package.json") as { version: string }
).version;

// Runs in the child: dynalite (DynamoDB's API on an in-memory LevelDB) on a loopback port, printed once.
const SERVER = `
const dynalite = require(process.argv[1]);
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("disconnect", () => process.exit(0));
`;

export interface Dynalite {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * dynalite in a child process, so that its CPU time (it is the database here) does not land in the bench
 * process's CPU per request, as a real DynamoDB's would not. The child exits with the bench (an IPC
 * channel it watches) or on `stop()`.
 */
export async function startDynalite(timeoutMs = 10_000): Promise<Dynalite> {
  const entry = createRequire(import.meta.url).resolve("dynalite");
  const child: ChildProcess = spawn(process.execPath, ["-e", SERVER, entry], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let errors = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.once("data", (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(Number(chunk.toString().trim()));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${errors.trim().split("\n").pop() ?? ""}`));
    });
  }).catch((error: Error) => {
    child.kill();
    throw error;
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill();
      await exited;
    },
  };
}
