import type { CheckGroup } from "../context.js";
import { bytes } from "./bytes.js";
import { claims } from "./claims.js";
import { clock } from "./clock.js";
import { completion } from "./completion.js";
import { expiry } from "./expiry.js";
import { extend } from "./extend.js";
import { fences } from "./fences.js";
import { keys } from "./keys.js";
import { listing } from "./listing.js";
import { listingFilters } from "./listing-filters.js";
import { ownership } from "./ownership.js";
import { ping } from "./ping.js";
import { races } from "./races.js";
import { records } from "./records.js";
import { release } from "./release.js";

/** Every group of checks, in the order the suite runs them. */
export const groups: readonly CheckGroup[] = [
  claims,
  completion,
  ownership,
  release,
  extend,
  records,
  clock,
  expiry,
  fences,
  races,
  keys,
  bytes,
  listing,
  listingFilters,
  ping,
];
