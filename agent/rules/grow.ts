/** Storage of the compiled tables: typed arrays that double when full. */

type Growable = Uint8Array | Uint32Array | Int32Array;

/** A copy of `a` with room for at least `n` elements (doubling, so appends stay amortized O(1)). */
export function grow<T extends Growable>(a: T, n: number): T {
  let size = Math.max(a.length, 16);
  while (size < n) size *= 2;
  if (size === a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a);
  return b;
}
