/**
 * Option bags: a key the function does not know is refused, never ignored (a misspelt `backlog`
 * or `reuseAdress` would otherwise run with the default, silently). asyncio gets this from
 * Python's keyword arguments (`TypeError: ... got an unexpected keyword argument`); here every
 * public function that takes an options object checks it with `checkOptionKeys` against a key
 * list made by `optionKeys`, which the compiler holds to exactly the keys of the options type.
 * @packageDocumentation
 */
import { codedError } from './errors';

/** @internal The keys of an options type, as a set to check against. */
export type OptionKeys = ReadonlySet<string>;

/** Every key of `T` (a string key) that `K` does not list. */
type Missing<T, K extends readonly string[]> = Exclude<keyof T & string, K[number]>;

/**
 * @internal `optionKeys<T>()(['a', 'b'])`: the key set of the options type `T`. A key that `T`
 * lacks, or a key of `T` left out, is a compile error, so the list cannot drift from the type.
 */
export function optionKeys<T>(): <const K extends readonly (keyof T & string)[]>(keys: K & ([Missing<T, K>] extends [never] ? unknown : { missing: Missing<T, K> })) => OptionKeys {
  return (keys) => new Set(keys);
}

/**
 * @internal Refuses an own key of `options` that `known` does not have: TypeError
 * `ERR_INVALID_ARG_VALUE` naming the key, where (`name`) and the keys known. A `for...in` with
 * an own-key test, so a check of a small bag allocates nothing.
 */
export function checkOptionKeys(options: object, known: OptionKeys, name = 'options'): void {
  for (const key in options) {
    if (!known.has(key) && Object.prototype.hasOwnProperty.call(options, key)) {
      throw codedError(
        'ERR_INVALID_ARG_VALUE',
        `The option "${name}.${key}" is not known (known: ${[...known].join(', ') || 'none'})`,
        TypeError,
      );
    }
  }
}
