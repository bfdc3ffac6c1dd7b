import { relative } from 'node:path';
import type { ManifestEntry } from '../../data/manifest.js';
import { integrityError, isRegError, type RegError } from '../../errors.js';
import type { Repo } from '../../repo.js';
import { refKey, type ObjRef } from '../../store/object-store.js';
import type { TrackedOutput } from '../data/outputs.js';

/** One object an output needs and where its bytes appear in the output. */
export interface OutputObject {
  ref: ObjRef;
  key: string;
  /** Paths inside the output that hold these bytes ('' for a file output); none for a manifest. */
  relpaths: string[];
  manifest: boolean;
}

/** The objects of a committed output: its own oid, plus (directories) one per distinct manifest md5. */
export function outputObjects(o: TrackedOutput, entries: readonly ManifestEntry[] | undefined): OutputObject[] {
  const top: ObjRef = { oid: o.out.md5!, legacy: o.legacy };
  if (!o.isDir) return [{ ref: top, key: refKey(top), relpaths: [''], manifest: false }];
  const objects: OutputObject[] = [{ ref: top, key: refKey(top), relpaths: [], manifest: true }];
  const byOid = new Map<string, OutputObject>();
  for (const e of entries ?? []) {
    let obj = byOid.get(e.md5);
    if (obj === undefined) {
      const ref = { oid: e.md5, legacy: o.legacy };
      obj = { ref, key: refKey(ref), relpaths: [], manifest: false };
      byOid.set(e.md5, obj);
      objects.push(obj);
    }
    obj.relpaths.push(e.relpath);
  }
  return objects;
}

export interface ObjectUse {
  /** Repo-relative path of the file (or directory, for a manifest) that uses the object. */
  path: string;
  /** The output it belongs to (what `reg add` / `reg fetch` take). */
  output: string;
  pointer: string;
}

export function usePath(o: TrackedOutput, relpath: string): string {
  return relpath === '' ? o.dataRel : `${o.dataRel}/${relpath}`;
}

/** Which tracked files use each of `keys` (directory members found through the cached manifests). */
export function usersOf(repo: Repo, outputs: readonly TrackedOutput[], keys: ReadonlySet<string>): Map<string, ObjectUse[]> {
  const users = new Map<string, ObjectUse[]>();
  for (const o of outputs) {
    if (o.out.md5 === undefined) continue;
    let entries: ManifestEntry[] | undefined;
    if (o.isDir) {
      try {
        entries = repo.cache.readManifest(o.out.md5, o.legacy);
      } catch (err) {
        if (!isRegError(err)) throw err;
      }
    }
    for (const obj of outputObjects(o, entries)) {
      if (!keys.has(obj.key)) continue;
      const list = users.get(obj.key) ?? [];
      if (obj.manifest) list.push({ path: o.dataRel, output: o.dataRel, pointer: o.pointerRel });
      for (const rel of obj.relpaths) list.push({ path: usePath(o, rel), output: o.dataRel, pointer: o.pointerRel });
      users.set(obj.key, list);
    }
  }
  return users;
}

/** A path for messages: relative to the repository when inside it. */
export function shownPath(repo: Repo, abs: string): string {
  const rel = relative(repo.root, abs);
  return rel.startsWith('..') ? abs : rel;
}

/**
 * A cache object whose bytes do not match their name (found while uploading or verifying):
 * moves it to the cache's quarantine, so a fetch can put good bytes under its name, and returns
 * the integrity error that says so.
 */
export function quarantineCorrupt(repo: Repo, ref: ObjRef, actual: string, code: string): RegError {
  const key = refKey(ref);
  let moved: string | undefined;
  let moveError: string | undefined;
  try {
    moved = repo.cache.quarantine(ref.oid, ref.legacy);
  } catch (err) {
    moveError = (err as Error).message;
  }
  const where = moved !== undefined ? `moved to ${shownPath(repo, moved)}` : `could not be moved aside (${moveError})`;
  return integrityError(code, `corrupt in the local cache: its bytes hash to ${actual}, not ${ref.oid.replace(/\.dir$/, '')}; ${where}`, {
    details: { key, oid: ref.oid, actual, ...(moved !== undefined ? { quarantined: moved } : {}) },
  });
}
