/**
 * Canonical JSON: the one serialisation ocibuild uses for every manifest, index and config it
 * writes, so the same document always has the same bytes and therefore the same digest.
 *
 * Rules: object keys sorted by Unicode code point, no insignificant whitespace, `undefined`
 * object members dropped (as `JSON.stringify` does), strings and numbers formatted as
 * `JSON.stringify` formats them, UTF-8 output. Non-finite numbers, bigints, functions, symbols
 * and cycles are rejected rather than silently turned into `null`.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';

const encoder = new TextEncoder();

/** Serialises `value` as canonical JSON and returns its UTF-8 bytes. */
export function canonicalJson(value: unknown): Uint8Array {
  return encoder.encode(canonicalJsonString(value));
}

/** Serialises `value` as a canonical JSON string (see the module rules). */
export function canonicalJsonString(value: unknown): string {
  const out: string[] = [];
  const text = write(value, out, new Set<object>(), '$');
  if (text === undefined) {
    throw new InvalidArgumentError('canonical JSON: the top-level value is undefined');
  }
  return out.join('');
}

/**
 * Compares two strings by Unicode code point. JavaScript's default sort compares UTF-16 code
 * units, which orders characters above U+FFFF (surrogate pairs) before U+E000–U+FFFF; code point
 * order is what other canonical-JSON implementations (and Go's sort of UTF-8 bytes) use.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Only when both differ inside the surrogate range do code units and code points disagree.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Appends the serialisation of `value` to `out`; returns undefined (and appends nothing) for skippable values. */
function write(value: unknown, out: string[], stack: Set<object>, path: string): true | undefined {
  if (value === null) {
    out.push('null');
    return true;
  }
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return true;
    case 'string':
      out.push(JSON.stringify(value));
      return true;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new InvalidArgumentError(`canonical JSON: ${path} is ${value}, which JSON cannot represent`);
      }
      out.push(JSON.stringify(value));
      return true;
    case 'object':
      break;
    default:
      throw new InvalidArgumentError(`canonical JSON: ${path} is a ${typeof value}, which JSON cannot represent`);
  }
  const object = value as Record<string, unknown> & { toJSON?: unknown };
  // Honour toJSON (Date and friends) the way JSON.stringify does.
  if (typeof object.toJSON === 'function') {
    return write((object.toJSON as () => unknown)(), out, stack, path);
  }
  if (stack.has(object)) {
    throw new InvalidArgumentError(`canonical JSON: ${path} is a circular reference`);
  }
  stack.add(object);
  if (Array.isArray(object)) {
    out.push('[');
    object.forEach((item: unknown, i: number) => {
      if (i > 0) out.push(',');
      // Arrays keep their length: an undefined element becomes null, as in JSON.stringify.
      if (write(item, out, stack, `${path}[${i}]`) === undefined) out.push('null');
    });
    out.push(']');
  } else {
    if (ArrayBuffer.isView(object)) {
      throw new InvalidArgumentError(`canonical JSON: ${path} is binary data; encode it (base64) first`);
    }
    out.push('{');
    let first = true;
    for (const key of Object.keys(object).sort(compareCodePoints)) {
      const member = object[key];
      if (member === undefined) continue;
      const mark = out.length;
      out.push(first ? '' : ',', JSON.stringify(key), ':');
      // A member whose toJSON() yields undefined is dropped too: roll back its key.
      if (write(member, out, stack, `${path}.${key}`) === undefined) out.length = mark;
      else first = false;
    }
    out.push('}');
  }
  stack.delete(object);
  return true;
}
