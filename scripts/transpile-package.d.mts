/** The package's source transpiled to a new directory under its node_modules; returns the directory. */
export function transpilePackage(packageDir: string | URL, name: string): Promise<string>;
