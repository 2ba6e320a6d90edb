import { afterPendingIo } from '../domain/after-io.js';
import type { WalletStore } from '../ports.js';

export interface FundsOptions {
  /** A snapshot older than this no longer lets a request call upstream before its hold. */
  maxAgeMs?: number;
  /** The snapshot must cover this many times the hold (other instances spend too). */
  margin?: number;
  maxAccounts?: number;
  now?: () => number;
}

interface Snapshot {
  balanceMicros: number;
  readAt: number;
  /** Holds this instance placed (or is placing) since the read. */
  reservedMicros: number;
  /** The balance came from a hold refused for want of money, not from a read. */
  short?: true;
}

/**
 * What this instance knows of each account's money, so that only a request whose admission is
 * near-certain calls upstream before its hold: a recent balance snapshot (read in the background,
 * never on a request's path) less every hold this instance placed since, covering the hold with a
 * margin. An account with no snapshot, or one running low, holds first and pays one round trip.
 * An account whose wallet is gone is remembered, so its still-cached keys are refused at once.
 */
export class Funds {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly loading = new Set<string>();
  private readonly deleted = new Set<string>();
  private readonly maxAgeMs: number;
  private readonly margin: number;
  private readonly maxAccounts: number;
  private readonly now: () => number;

  constructor(
    private readonly wallet: WalletStore,
    options: FundsOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 10_000;
    this.margin = options.margin ?? 2;
    this.maxAccounts = options.maxAccounts ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  isDeleted(accountId: string): boolean {
    return this.deleted.has(accountId);
  }

  /**
   * True when a hold of the account was refused for want of money within the snapshot's lifetime
   * (10 s by default) and no read has shown a top-up since.
   */
  wasShort(accountId: string): boolean {
    const snapshot = this.snapshots.get(accountId);
    return snapshot?.short === true && this.now() - snapshot.readAt <= this.maxAgeMs;
  }

  /**
   * True when the snapshot covers `holdMicros` with the margin: the hold is then counted against
   * it, and the request may call upstream while its hold is placed. Otherwise a fresh snapshot is
   * read in the background and the request holds first.
   */
  tryReserve(accountId: string, holdMicros: number): boolean {
    const snapshot = this.snapshots.get(accountId);
    const age = snapshot ? this.now() - snapshot.readAt : Number.POSITIVE_INFINITY;
    if (!snapshot || age > this.maxAgeMs) {
      this.refresh(accountId);
      return false;
    }
    // Read the next snapshot before this one ages out, so a busy account never pays a hold's round
    // trip in front of its upstream call only because its snapshot expired.
    if (age > this.maxAgeMs / 2) this.refresh(accountId);
    const available = snapshot.balanceMicros - snapshot.reservedMicros;
    if (available < holdMicros * this.margin) {
      if (age > this.maxAgeMs / 10) this.refresh(accountId); // e.g. a top-up since
      return false;
    }
    snapshot.reservedMicros += holdMicros;
    return true;
  }

  /** A hold placed without a reservation. */
  held(accountId: string, holdMicros: number): void {
    const snapshot = this.snapshots.get(accountId);
    if (snapshot) snapshot.reservedMicros += holdMicros;
  }

  /** A hold refused for want of money: the balance it saw is the newest snapshot. */
  short(accountId: string, balanceMicros: number): void {
    this.store(accountId, { balanceMicros, readAt: this.now(), reservedMicros: 0, short: true });
  }

  /** The account's wallet no longer exists. */
  gone(accountId: string): void {
    this.snapshots.delete(accountId);
    if (this.deleted.size >= this.maxAccounts) this.deleted.clear();
    this.deleted.add(accountId);
  }

  private refresh(accountId: string): void {
    if (this.loading.has(accountId)) return;
    this.loading.add(accountId);
    const readAt = this.now();
    const reservedBefore = this.snapshots.get(accountId)?.reservedMicros ?? 0;
    // Started after the request's upstream call has gone out (after-io.ts).
    afterPendingIo()
      .then(() => this.wallet.readBalance(accountId))
      .then((balanceMicros) => {
        if (balanceMicros === undefined) return this.gone(accountId);
        // Holds placed while the read was under way may not show in it: keep them reserved.
        const reservedSince = (this.snapshots.get(accountId)?.reservedMicros ?? 0) - reservedBefore;
        this.store(accountId, { balanceMicros, readAt, reservedMicros: Math.max(0, reservedSince) });
      })
      .catch(() => {}) // no snapshot: requests hold first, which is always safe
      .finally(() => this.loading.delete(accountId));
  }

  private store(accountId: string, snapshot: Snapshot): void {
    if (this.snapshots.size >= this.maxAccounts && !this.snapshots.has(accountId)) {
      const oldest = this.snapshots.keys().next();
      if (!oldest.done) this.snapshots.delete(oldest.value);
    }
    this.snapshots.set(accountId, snapshot);
  }
}
