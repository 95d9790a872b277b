import type { Context } from "koa";

/**
 * While idemkit holds the response back, Koa must still write the route's body into it, even if the
 * client went away meanwhile: Koa skips (or ends empty) a response whose socket is gone, and what
 * idemkit stored would not be the route's outcome. `holding` switches `ctx.writable` to "not ended
 * yet" for this request; inside Koa's own `onerror` it reads as usual, so a socket error never makes
 * Koa write an error response into the held one.
 */
export function writableWhileHeld(ctx: Context, holding: () => boolean): void {
  const response = ctx.response;
  const koaWritable = getterOf(response, "writable");
  let inOnerror = false;
  Object.defineProperty(response, "writable", {
    configurable: true,
    get() {
      return holding() && !inOnerror ? !ctx.res.writableEnded : koaWritable.call(response);
    },
  });
  const koaOnerror = ctx.onerror;
  ctx.onerror = (error) => {
    inOnerror = true;
    try {
      koaOnerror.call(ctx, error);
    } finally {
      inOnerror = false;
    }
  };
}

function getterOf(from: object, name: string): () => boolean {
  for (let proto: object | null = from; proto !== null; proto = Object.getPrototypeOf(proto)) {
    const getter = Object.getOwnPropertyDescriptor(proto, name)?.get;
    if (getter) return getter as () => boolean;
  }
  throw new TypeError(`@idemkit/koa: not a Koa response: no ${name}`);
}
