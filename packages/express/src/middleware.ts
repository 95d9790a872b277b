import { createHash } from "node:crypto";
import {
  createIdempotency,
  type HandlerContext,
  type HttpOptions,
  type Idempotency,
  type IdempotencyInstanceOptions,
  splitOptions,
} from "@idemkit/core";
import { nodeBody, preparePrototypes, serve } from "@idemkit/node";
import type { Request as ExpressRequest, RequestHandler } from "express";

/** Core's HTTP options, with `scope` and `fingerprint` reading the Express request (`req.user.id`). */
export type ExpressIdempotencyOptions = HttpOptions<ExpressRequest>;

/** Requests a mount already handles (a WeakSet: a property added to Express's `req` costs microseconds). */
const handled = new WeakSet<object>();

/** An uploaded file as multer leaves it (`req.file`, `req.files`): only what identifies it. */
interface UploadedFile {
  fieldname?: string;
  originalname?: string;
  mimetype?: string;
  size?: number;
  buffer?: Uint8Array;
}

/**
 * What a body parser made of the body, to fingerprint: `req.body`, and with multer the uploaded files
 * too (field, name, type, size and, kept in memory, a digest of the bytes), so another upload under
 * the same key is a different request.
 */
function parsedBody(req: ExpressRequest): unknown {
  // Own properties, as multer sets them: an absent one read through `req` walks its whole prototype
  // chain in V8's runtime on every request (@idemkit/node's lookups.ts).
  if (!Object.hasOwn(req, "file") && !Object.hasOwn(req, "files")) return req.body;
  const { file, files } = req as ExpressRequest & { file?: UploadedFile; files?: unknown };
  if (file === undefined && files === undefined) return req.body;
  const describe = (f: UploadedFile) => ({
    fieldname: f.fieldname,
    originalname: f.originalname,
    mimetype: f.mimetype,
    size: f.size,
    sha256: f.buffer ? createHash("sha256").update(f.buffer).digest("hex") : undefined,
  });
  const list = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map((f) => describe(f as UploadedFile))
      : value && typeof value === "object"
        ? Object.fromEntries(Object.entries(value).map(([name, group]) => [name, list(group)]))
        : undefined;
  return { body: req.body ?? null, file: file && describe(file), files: list(files) };
}

/**
 * The matched route's path (`/orders/:id`), for events: read when the request ends, after routing.
 * Only for a route of the app itself: under a router, `req.route.path` is relative to a mount path
 * that may hold values (`/users/42`), so it is left out rather than reported wrong.
 */
function routeTemplate(req: ExpressRequest): string | undefined {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === "string" && req.baseUrl === "" ? path : undefined;
}

declare global {
  namespace Express {
    interface Locals {
      /** The idempotency key, fence and lease signal of the running request. */
      idempotency?: HandlerContext;
    }
  }
}

/**
 * Express middleware (Express 4.21+ and 5): `app.use(idempotency(idem, { scope }))`, or per route.
 * Uncovered methods go straight on, untouched. Claim, replay, conflict and mismatch are decided by
 * idemkit core; the route's response is held back and stored before the client receives it
 * (`@idemkit/node`'s capture). Mount it after your body parsers: a body one of them read is
 * fingerprinted from `req.body` (parsed values canonically); a body none read is read from the
 * stream and put back, so the route reads it as if nobody had. Mounted both app-wide and on a
 * route, the first one handles a request.
 */
export function idempotency(
  instance: Idempotency | (IdempotencyInstanceOptions & ExpressIdempotencyOptions),
  options: ExpressIdempotencyOptions = {},
): RequestHandler {
  let idem: Idempotency;
  let http = options;
  if ("exchange" in instance) idem = instance;
  else {
    const split = splitOptions<ExpressIdempotencyOptions>(instance);
    idem = createIdempotency(split.instance);
    http = { ...split.http, ...options };
  }
  const entry = idem.exchange(http, "@idemkit/express", { route: routeTemplate });
  preparePrototypes();
  return (req, res, next) => {
    if (!entry.covers(req.method)) return next();
    // Mounted twice on one path (app-wide and on a route): the first one handles the request.
    if (handled.has(req)) return next();
    handled.add(req);
    void serve(entry, req, res, {
      request: req,
      body: () => nodeBody(req, () => parsedBody(req)),
      route: (context) => {
        if (context) res.locals.idempotency = context;
        next();
      },
      error: next,
    });
  };
}
