import { defaultCodec } from "@idemkit/core";

/**
 * Decodes what `run()` stored: one envelope byte (0 = the codec's bytes follow, 1 = the value could
 * not be encoded), then the default codec's bytes.
 */
export function decodeRunOutcome(bytes: Uint8Array): unknown {
  if (bytes[0] !== 0) throw new TypeError(`not a replayable run() outcome (envelope ${bytes[0]})`);
  return defaultCodec.decode(bytes.subarray(1));
}
