// Type-level assertions for the type tests. Nothing here runs: tsc checks it.

/** true when A and B are the same type (not merely assignable either way). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Fails to compile unless T is true: `type _ = Expect<Equal<X, Y>>`. */
export type Expect<T extends true> = T;

/** A value of any type, for building expressions whose types are checked. */
export declare function value<T>(): T;
