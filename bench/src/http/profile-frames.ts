/** How `split-profile.ts` and `allocations.ts` name a profile's frames. */

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Where a frame's code lives: a package of ours, a dependency, Node itself, or V8's own buckets. */
export function packageOf({ url, functionName }: CallFrame): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const ours = /\/packages\/([^/]+)\//.exec(url);
  if (ours) return `@idemkit/${ours[1]}`;
  const dependency = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1]!;
  if (url.startsWith("node:")) return "node:internal";
  return url.replace(/^.*\//, "");
}

/** A frame as the tables print it: its package, function, file and line. */
export function frameOf(callFrame: CallFrame): string {
  const { functionName, url, lineNumber } = callFrame;
  return `${packageOf(callFrame)} ${functionName || "(anonymous)"} ${url.replace(/^.*\//, "")}:${lineNumber + 1}`;
}
