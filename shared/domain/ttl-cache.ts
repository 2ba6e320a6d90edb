import { afterPendingIo } from './after-io.js';

/**
 * A small time-bounded cache with single-flight loading: concurrent misses for one key share
 * one load, so a burst of cold requests costs one storage round trip, not one each.
 *
 * Refresh-ahead: in the last fifth of an entry's life a read still returns it (it is within its
 * TTL) and starts one background reload, so steady traffic never waits for a reload and no
 * value is ever served older than the TTL. Failed loads are not cached. The background reload
 * starts only after the I/O already due (after-io.ts): the read that found the entry is on a
 * request's path, and its own storage or upstream call goes out first.
 */
export class TtlCache<K, V> {
  private readonly entries = new Map<K, { value: V; loadedAt: number }>();
  private readonly inflight = new Map<K, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    const age = hit ? this.now() - hit.loadedAt : Number.POSITIVE_INFINITY;
    if (hit && age < this.ttlMs) {
      if (age >= this.ttlMs * 0.8 && !this.inflight.has(key)) {
        this.load(key, () => afterPendingIo().then(load)).catch(() => {});
      }
      return hit.value;
    }
    return this.inflight.get(key) ?? this.load(key, load);
  }

  /** The entry's value while it is within its TTL, without loading anything. */
  peek(key: K): V | undefined {
    const hit = this.entries.get(key);
    return hit && this.now() - hit.loadedAt < this.ttlMs ? hit.value : undefined;
  }

  private load(key: K, load: () => Promise<V>): Promise<V> {
    const loading = load().then(
      (value) => {
        this.inflight.delete(key);
        this.set(key, value);
        return value;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, loading);
    return loading;
  }

  set(key: K, value: V): void {
    if (this.entries.size >= this.maxEntries && !this.entries.has(key)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, loadedAt: this.now() });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
