import { badRequest, ApiError } from './status.js';
import { canonical } from './managed-fields.js';

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7386 JSON merge patch (`application/merge-patch+json`). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isMap(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer ${JSON.stringify(ptr)}`);
  return ptr.slice(1).split('/').map(unescape);
}

function container(doc: unknown, tokens: string[], op: string): { parent: unknown; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isMap(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${op} operation does not apply: doc is missing path: ${'/' + tokens.join('/')}`);
  }
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: unknown, tokens: string[]): unknown {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isMap(cur)) cur = cur[t];
    else return undefined;
  }
  return cur;
}

function missing(op: string, path: string): ApiError {
  return new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${op} operation does not apply: doc is missing path: ${path}`);
}

/** RFC 6902 JSON patch (`application/json-patch+json`). */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('the server rejected our request due to an error in our request: json patch must be an array of operations');
  let out = structuredClone(doc);
  for (const raw of ops) {
    if (!isMap(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw badRequest('the server rejected our request due to an error in our request: invalid json patch operation');
    }
    const op = raw['op'];
    const path = raw['path'];
    const tokens = parsePointer(path);
    const set = (value: unknown, insert: boolean) => {
      if (tokens.length === 0) {
        out = structuredClone(value);
        return;
      }
      const { parent, key } = container(out, tokens, op);
      if (Array.isArray(parent)) {
        const idx = key === '-' ? parent.length : Number(key);
        if (!Number.isInteger(idx) || idx < 0 || idx > parent.length || (!insert && idx >= parent.length)) throw missing(op, path);
        if (insert) parent.splice(idx, 0, structuredClone(value));
        else parent[idx] = structuredClone(value);
      } else if (isMap(parent)) {
        if (!insert && !(key in parent)) throw missing(op, path);
        parent[key] = structuredClone(value);
      } else throw missing(op, path);
    };
    const remove = (): unknown => {
      const { parent, key } = container(out, tokens, op);
      if (Array.isArray(parent)) {
        const idx = Number(key);
        if (!Number.isInteger(idx) || idx < 0 || idx >= parent.length) throw missing(op, path);
        return parent.splice(idx, 1)[0];
      }
      if (isMap(parent) && key in parent) {
        const v = parent[key];
        delete parent[key];
        return v;
      }
      throw missing(op, path);
    };
    switch (op) {
      case 'add':
        set(raw['value'], true);
        break;
      case 'replace':
        set(raw['value'], false);
        break;
      case 'remove':
        remove();
        break;
      case 'test':
        if (canonical(getAt(out, tokens)) !== canonical(raw['value'])) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${path} failed`);
        }
        break;
      case 'move':
      case 'copy': {
        if (typeof raw['from'] !== 'string') throw badRequest('the server rejected our request due to an error in our request: missing from');
        const fromTokens = parsePointer(raw['from']);
        const value = getAt(out, fromTokens);
        if (value === undefined) throw missing(op, raw['from']);
        if (op === 'move') {
          const saved = tokens.splice(0, tokens.length, ...fromTokens);
          remove();
          tokens.splice(0, tokens.length, ...saved);
        }
        set(value, true);
        break;
      }
      default:
        throw badRequest(`the server rejected our request due to an error in our request: Unexpected kind: ${op}`);
    }
  }
  return out;
}
