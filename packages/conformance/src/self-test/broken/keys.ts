import { type BrokenStore, keyStore, merged } from "./support.js";

/** Broken stores the `keys` checks catch. */
export const keys: BrokenStore[] = [
  keyStore(
    "key-nul-terminated",
    "distinct keys are distinct records (this one cuts keys at NUL, as C strings do)",
    { "keys/awkward": /keys #\d+ "nul\\u0000[ab]" and #\d+ "nul\\u0000[ab]".*merged them/ },
    (key) => key.split("\u0000")[0]!,
  ),
  keyStore(
    "key-percent-decoded",
    "distinct keys are distinct records (this one percent-decodes keys)",
    { "keys/awkward": /keys #\d+ "(%41|A)" and #\d+ "(%41|A)".*merged them/ },
    (key) =>
      key.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
  ),
  keyStore(
    "key-nfc-normalised",
    "distinct keys are distinct records (this one normalises keys to NFC)",
    { "keys/unicode-normalisation": merged },
    (key) => key.normalize("NFC"),
  ),
  keyStore(
    "key-nfkc-normalised",
    "distinct keys are distinct records (this one normalises keys to NFKC)",
    { "keys/unicode-normalisation": merged },
    (key) => key.normalize("NFKC"),
  ),
  keyStore(
    "key-trailing-spaces-trimmed",
    "distinct keys are distinct records (this one ignores trailing spaces, as a PAD SPACE collation does)",
    { "keys/trailing-spaces": /keys #\d+ "a {0,2}" and #\d+ "a {0,2}".*merged them/ },
    (key) => key.replace(/ +$/, ""),
  ),
  keyStore(
    "key-case-folded",
    "distinct keys are distinct records (this one ignores case, as a case-insensitive collation does)",
    { "keys/case": merged },
    (key) => key.toLowerCase(),
  ),
  keyStore(
    "key-escape-ambiguous",
    "distinct keys are distinct records (this one escapes NUL as \\u0000 but leaves backslashes alone)",
    { "keys/escapes": /"nul\\u0000" and #\d+ "nul\\\\u0000"|"nul\\\\u0000" and #\d+ "nul\\u0000"/ },
    (key) => key.replaceAll("\u0000", "\\u0000"),
  ),
  keyStore(
    "key-truncated",
    "distinct keys are distinct records (this one keeps the first 1024 characters)",
    {
      "keys/long-4096-random": /differs only in its (middle|last) character reached one record/,
      "keys/long-8kb": /differs only in its (middle|last) character reached one record/,
      "keys/long-32k-random": /differs only in its (middle|last) character reached one record/,
    },
    (key) => key.slice(0, 1024),
  ),
];
