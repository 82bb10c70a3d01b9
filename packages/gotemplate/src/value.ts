// Go values as the interpreter holds them. Go is typed and JavaScript is not, so every value keeps
// the Go type a template could observe (in printing, comparisons, function arguments):
//   string → string, bool → boolean, int → bigint, float64 → number,
//   a nil interface → null, "no value" (reflect's invalid Value) → undefined,
//   slices, maps and structs → the classes below, each with its Go type name.
// This file imports nothing local: every other file of the package points down to it.

/** A Go slice; `type` is its Go type as reflect prints it ("[]string", "memkv.KVPairs"), `elem` its element type. */
export class GoSlice {
  constructor(
    readonly type: string,
    readonly elem: string,
    readonly items: GoValue[],
    /** A nil slice (confd's lookupIP on failure): prints and ranges like an empty one. */
    readonly nil = false,
  ) {}
}

/** A Go map with string keys (map[string]interface {}: what json and map make). */
export class GoMap {
  readonly type: string;
  constructor(
    readonly elem: string,
    readonly entries: Map<string, GoValue>,
  ) {
    this.type = `map[string]${elem}`;
  }
}

/** A Go struct (memkv.KVPair, net.SRV); `pointer` when the value is a pointer to it. */
export class GoStruct {
  constructor(
    readonly type: string,
    readonly fields: ReadonlyArray<readonly [string, GoValue]>,
    readonly pointer = false,
  ) {}
  field(name: string): GoValue | typeof NO_FIELD {
    for (const [n, v] of this.fields) if (n === name) return v;
    return NO_FIELD;
  }
}

/** A value the interpreter can hold but will not print or compare, because it could not match Go's bytes (time.Time). */
export class GoOpaque {
  constructor(
    readonly type: string,
    readonly value: unknown,
    readonly methods: Readonly<Record<string, GoFunc>> = {},
  ) {}
}

/** A Go function: its parameter types (the last one variadic when `variadic`), and an implementation. */
export interface GoFunc {
  readonly params: readonly string[];
  readonly variadic?: boolean;
  /** Builtins that take reflect.Value (and, or, eq, index, ...) see undefined for "no value". */
  readonly reflect?: boolean;
  /** and/or: evaluate arguments lazily. */
  readonly shortCircuit?: 'and' | 'or';
  readonly result: string;
  /** Returns the result; throws a GoCallError for Go's `error` result. */
  call(args: GoValue[]): GoValue;
}

/** What a function's `error` result says: "error calling NAME: <message>". */
export class GoCallError extends Error {}

/** Something Go would render but this interpreter cannot render identically: refused, never guessed. */
export class Unsupported extends Error {
  /** Where in the template text, when known at parse time. */
  pos?: number;
}

export const NO_FIELD: unique symbol = Symbol('no field');

export type GoValue = string | boolean | bigint | number | null | undefined | GoSlice | GoMap | GoStruct | GoOpaque;

export const INTERFACE = 'interface {}';

/** The Go type of a value, as reflect's Type.String() prints it. */
export function typeOf(v: GoValue): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float64';
    case 'undefined':
      return '<invalid reflect.Value>';
  }
  if (v === null) return 'nil';
  if (v instanceof GoStruct) return v.pointer ? `*${v.type}` : v.type;
  return v.type;
}

/** Go's int is 64 bits: arithmetic wraps. */
export const int = (n: bigint | number): bigint => BigInt.asIntN(64, typeof n === 'bigint' ? n : BigInt(n));

export const stringSlice = (items: readonly string[], nil = false): GoSlice => new GoSlice('[]string', 'string', [...items], nil);
