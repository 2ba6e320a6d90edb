import { describe, expect, it } from 'vitest';
import { Funds } from '../../shared/lifecycle/funds.js';
import type { WalletStore } from '../../shared/ports.js';

/** The per-instance balance snapshots that decide whether an upstream call may start before its hold. */

function wallet(balances: Map<string, number>) {
  const reads: string[] = [];
  const store: WalletStore = {
    placeHold: async () => ({ ok: true }),
    writeOutbox: async () => {},
    async readBalance(accountId) {
      reads.push(accountId);
      return balances.get(accountId);
    },
  };
  return { store, reads };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('funds', () => {
  it('never overlaps without a snapshot, and reads one in the background', async () => {
    const { store, reads } = wallet(new Map([['a', 1_000]]));
    const funds = new Funds(store, { now: () => 0 });
    expect(funds.tryReserve('a', 10)).toBe(false);
    expect(funds.tryReserve('a', 10)).toBe(false);
    await settle();
    expect(reads).toEqual(['a']); // one read for both misses
    expect(funds.tryReserve('a', 10)).toBe(true);
  });

  it('starts a background read only after the I/O already due (the upstream call goes out first)', async () => {
    const { store, reads } = wallet(new Map([['a', 1_000]]));
    const funds = new Funds(store, { now: () => 0 });
    expect(funds.tryReserve('a', 10)).toBe(false);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(reads).toEqual([]);
    await settle();
    expect(reads).toEqual(['a']);
  });

  it('overlaps only while the snapshot less the holds placed since covers twice the hold', async () => {
    const { store } = wallet(new Map([['a', 1_000]]));
    const funds = new Funds(store, { now: () => 0 });
    funds.tryReserve('a', 1);
    await settle();
    expect(funds.tryReserve('a', 400)).toBe(true); // 1,000 ≥ 2 × 400; 600 left
    expect(funds.tryReserve('a', 300)).toBe(true); // 600 ≥ 2 × 300; 300 left
    expect(funds.tryReserve('a', 200)).toBe(false); // 300 < 2 × 200
    funds.held('a', 250); // a hold placed without a reservation counts too: 50 left
    expect(funds.tryReserve('a', 26)).toBe(false); // 50 < 2 × 26
    expect(funds.tryReserve('a', 25)).toBe(true); // 50 ≥ 2 × 25, the edge
  });

  it('takes a refused hold’s balance as the newest snapshot, and stops overlapping an old one', async () => {
    let now = 0;
    const { store, reads } = wallet(new Map([['a', 1_000_000]]));
    const funds = new Funds(store, { now: () => now, maxAgeMs: 10_000 });
    funds.tryReserve('a', 1);
    await settle();
    funds.short('a', 5);
    expect(funds.tryReserve('a', 10)).toBe(false);
    now = 10_001;
    expect(funds.tryReserve('a', 1)).toBe(false); // too old: read again
    await settle();
    expect(reads.length).toBeGreaterThanOrEqual(2);
  });

  it('reads the next snapshot once half its age is gone, and overlaps meanwhile', async () => {
    let now = 0;
    const { store, reads } = wallet(new Map([['a', 1_000_000]]));
    const funds = new Funds(store, { now: () => now, maxAgeMs: 10_000 });
    funds.tryReserve('a', 1);
    await settle();
    now = 4_000;
    expect(funds.tryReserve('a', 10)).toBe(true);
    expect(reads).toEqual(['a']); // young enough: no read
    now = 6_000;
    expect(funds.tryReserve('a', 10)).toBe(true); // still within its age: overlaps while the next is read
    await settle();
    expect(reads).toEqual(['a', 'a']);
    now = 15_000; // 9 s after the second read: still fresh
    expect(funds.tryReserve('a', 10)).toBe(true);
  });

  it('remembers an account whose wallet is gone', async () => {
    const { store } = wallet(new Map());
    const funds = new Funds(store, { now: () => 0 });
    expect(funds.tryReserve('gone', 1)).toBe(false);
    await settle();
    expect(funds.isDeleted('gone')).toBe(true);
  });
});
