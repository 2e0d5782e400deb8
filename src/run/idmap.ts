/**
 * Id mappings between a rootless sandbox and the host: parsing `/etc/subuid`-style files and
 * translating host owners back to container owners. Pure functions.
 * @module
 */
import type { IdMapping, IdRange } from './types.ts';

/** A subordinate id range from `/etc/subuid` or `/etc/subgid`. */
export interface SubordinateRange {
  /** First host id of the range. */
  start: number;
  /** Number of ids. */
  count: number;
}

/**
 * Finds the first range of `/etc/subuid`-format `text` that belongs to the user, matched by name
 * or by numeric id as shadow's newuidmap does.
 */
export function findSubordinateRange(text: string, name: string | undefined, id: number): SubordinateRange | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [owner, start, count] = line.split(':');
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== name && owner !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/**
 * The mapping a rootless sandbox sets up: the caller's own id is container 0 and the subordinate
 * range provides container ids 1..count (so container id N ≥ 1 is host `start + N - 1`).
 */
export function rootlessMapping(uid: number, gid: number, subuid: SubordinateRange, subgid: SubordinateRange): IdMapping {
  return {
    uids: [
      { inside: 0, outside: uid, count: 1 },
      { inside: 1, outside: subuid.start, count: subuid.count },
    ],
    gids: [
      { inside: 0, outside: gid, count: 1 },
      { inside: 1, outside: subgid.start, count: subgid.count },
    ],
  };
}

/**
 * The mapping of a root caller's sandbox: container ids 0..count-1 are host ids `start + id`,
 * so the step's root is an ordinary unprivileged id on the host (as rootless podman does).
 */
export function rootMapping(subuid: SubordinateRange, subgid: SubordinateRange): IdMapping {
  return {
    uids: [{ inside: 0, outside: subuid.start, count: subuid.count }],
    gids: [{ inside: 0, outside: subgid.start, count: subgid.count }],
  };
}

/** The identity mapping (no user namespace: host ids are container ids). */
export const IDENTITY_MAPPING: IdMapping = { uids: [], gids: [] };

function toInside(ranges: IdRange[], hostId: number): number | undefined {
  if (ranges.length === 0) return hostId;
  for (const r of ranges) {
    if (hostId >= r.outside && hostId < r.outside + r.count) return r.inside + (hostId - r.outside);
  }
  return undefined;
}

/**
 * Translates a host uid to the container uid, or `undefined` when the host id is not mapped
 * (it then shows as the overflow id 65534 inside, which is what the layer should say as well).
 */
export function hostUidToContainer(mapping: IdMapping, hostUid: number): number | undefined {
  return toInside(mapping.uids, hostUid);
}

/** Translates a host gid to the container gid; see {@link hostUidToContainer}. */
export function hostGidToContainer(mapping: IdMapping, hostGid: number): number | undefined {
  return toInside(mapping.gids, hostGid);
}

/** Translates a container uid to the host uid, or `undefined` when it is outside the mapping. */
export function containerUidToHost(mapping: IdMapping, uid: number): number | undefined {
  if (mapping.uids.length === 0) return uid;
  for (const r of mapping.uids) if (uid >= r.inside && uid < r.inside + r.count) return r.outside + (uid - r.inside);
  return undefined;
}

/** Translates a container gid to the host gid, or `undefined` when it is outside the mapping. */
export function containerGidToHost(mapping: IdMapping, gid: number): number | undefined {
  if (mapping.gids.length === 0) return gid;
  for (const r of mapping.gids) if (gid >= r.inside && gid < r.inside + r.count) return r.outside + (gid - r.inside);
  return undefined;
}
