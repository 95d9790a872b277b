import { bytes } from "./broken/bytes.js";
import { claims } from "./broken/claims.js";
import { clock } from "./broken/clock.js";
import { completion } from "./broken/completion.js";
import { expiry } from "./broken/expiry.js";
import { extend } from "./broken/extend.js";
import { fences } from "./broken/fences.js";
import { keys } from "./broken/keys.js";
import { ownership } from "./broken/ownership.js";
import { races } from "./broken/races.js";
import { records } from "./broken/records.js";
import { release } from "./broken/release.js";
import type { BrokenStore } from "./broken/support.js";
import { createMemoryStore } from "./harness.js";

export type { BrokenStore };

/**
 * Deliberately broken stores, one broken promise each, built by wrapping a memory store (one file per
 * group of checks, under `broken/`). The suite's own tests require each to fail the checks named in
 * `fails`, with a message that says what broke. A new check comes with a broken store that only it
 * catches.
 */
export const brokenStores: BrokenStore[] = [
  ...claims,
  ...completion,
  ...ownership,
  ...release,
  ...extend,
  ...records,
  ...clock,
  ...expiry,
  ...fences,
  ...races,
  ...keys,
  ...bytes,
];

export { createMemoryStore };
