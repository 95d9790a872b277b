/** An RFC 9457 problem details response (`application/problem+json`). */
export function problemResponse(
  status: number,
  type: string,
  title: string,
  detail: string,
  extra: { headers?: Record<string, string>; members?: Record<string, unknown> } = {},
): Response {
  const body = JSON.stringify({
    type: `urn:idemkit:problem:${type}`,
    title,
    status,
    detail,
    ...extra.members,
  });
  return new Response(body, {
    status,
    headers: { "content-type": "application/problem+json", ...extra.headers },
  });
}
