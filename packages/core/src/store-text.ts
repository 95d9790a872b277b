/**
 * Maps any JS string to a distinct string of well-formed Unicode without NUL, for stores whose text or
 * UTF-8 columns cannot hold every JS string: lone UTF-16 surrogates (UTF-8 would turn them all into
 * U+FFFD) and NUL (PostgreSQL's `text` refuses it) are escaped as `\uXXXX`, and `\` as `\\`. Every other
 * character is kept as it is, so operators can still read keys; the SQL stores and DynamoDB use the
 * same escaping, so a key reads the same in each. `decodeStoreText` is its inverse.
 */
export function encodeStoreText(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what must be escaped
    /\\|\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
    (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
  );
}

/** The inverse of `encodeStoreText`: `\\` back to `\`, `\uXXXX` back to its code unit. */
export function decodeStoreText(text: string): string {
  return text.includes("\\")
    ? text.replace(/\\(\\|u[0-9a-f]{4})/g, (_, c: string) =>
        c === "\\" ? "\\" : String.fromCharCode(Number.parseInt(c.slice(1), 16)),
      )
    : text;
}
