import { createHash } from "node:crypto";
import type { Context } from "koa";

/** An uploaded file as @koa/multer (`buffer`) or koa-body's formidable (`hash`, if asked) leave it. */
interface UploadedFile {
  fieldname?: string;
  originalname?: string;
  originalFilename?: string | null;
  mimetype?: string | null;
  size?: number;
  buffer?: Uint8Array;
  hash?: string | null;
}

/**
 * What a body parser that ran first made of the body, to fingerprint: `ctx.request.body`
 * (@koa/bodyparser, koa-body), and with uploads the files too (field, name, type, size and, when
 * kept in memory or hashed by the parser, their content), so another upload under the same key is a
 * different request.
 */
export function parsedBody(ctx: Context): unknown {
  const { body, file, files } = ctx.request as { body?: unknown; file?: unknown; files?: unknown };
  if (file === undefined && files === undefined) return body;
  return { body: body ?? null, file: file && describe(file as UploadedFile), files: list(files) };
}

function describe(file: UploadedFile) {
  return {
    fieldname: file.fieldname,
    name: file.originalname ?? file.originalFilename ?? undefined,
    mimetype: file.mimetype ?? undefined,
    size: file.size,
    sha256: file.buffer ? createHash("sha256").update(file.buffer).digest("hex") : undefined,
    hash: file.hash ?? undefined,
  };
}

/** Files as a list, or grouped by field (each group a list or a single file). */
function list(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((file) => describe(file as UploadedFile));
  if (value === null || typeof value !== "object") return undefined;
  return Object.fromEntries(
    Object.entries(value).map(([name, group]) => [
      name,
      Array.isArray(group) ? list(group) : describe(group as UploadedFile),
    ]),
  );
}
