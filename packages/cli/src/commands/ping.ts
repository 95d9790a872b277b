import { EXIT } from "../errors.js";
import { json } from "../output.js";
import type { Command } from "./context.js";

/** `idemkit ping`: one round trip (the store's `ping`, else a read of a key no app uses), timed. */
export const ping: Command = async ({ invocation, open, io }) => {
  const { store } = open;
  const started = performance.now();
  if (typeof store.ping === "function") await store.ping();
  else await store.get("idem:ping");
  const ms = Math.round(performance.now() - started);
  if (invocation.json) io.stdout(json({ ok: true, store: open.name, ms }));
  else io.stdout(`ok: the ${open.name} store answered in ${ms} ms\n`);
  return EXIT.OK;
};
