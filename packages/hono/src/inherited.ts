/**
 * Headers a response already had before idemkit ran (set by earlier middleware: CORS, a request id).
 * They belong to the request they were set for: kept out of the stored outcome, so a replay carries
 * the replaying request's own, as on every other idemkit integration.
 */
export type Inherited = readonly (readonly [name: string, value: string])[];

export function inheritedOf(headers: Headers): Inherited {
  const entries: [string, string][] = [];
  headers.forEach((value, name) => {
    if (name !== "set-cookie") entries.push([name, value]);
  });
  for (const cookie of headers.getSetCookie()) entries.push(["set-cookie", cookie]);
  return entries;
}

/** The route's response without the inherited headers it still carries unchanged: what is stored. */
export function withoutInherited(response: Response, inherited: Inherited): Response {
  const unchanged = inherited.filter(([name, value]) =>
    name === "set-cookie"
      ? response.headers.getSetCookie().includes(value)
      : response.headers.get(name) === value,
  );
  if (unchanged.length === 0) return response;
  const headers = new Headers(response.headers);
  const cookies = new Set<string>();
  for (const [name, value] of unchanged) {
    if (name === "set-cookie") cookies.add(value);
    else headers.delete(name);
  }
  if (cookies.size > 0) {
    headers.delete("set-cookie");
    for (const cookie of response.headers.getSetCookie()) {
      if (!cookies.has(cookie)) headers.append("set-cookie", cookie);
    }
  }
  const { status, statusText } = response;
  return new Response(response.body, { status, statusText, headers });
}

/** The inherited headers put back on what idemkit sends (its own headers of the same name win). */
export function withInherited(response: Response, inherited: Inherited): Response {
  const own = new Set<string>();
  response.headers.forEach((_value, name) => {
    own.add(name);
  });
  for (const [name, value] of inherited) {
    if (name === "set-cookie") response.headers.append(name, value);
    else if (!own.has(name)) response.headers.set(name, value);
  }
  return response;
}
