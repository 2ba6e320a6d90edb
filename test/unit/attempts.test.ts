import { describe, expect, it } from 'vitest';
import { type Attempt, withTimeout } from '../../shared/lifecycle/attempts.js';

/** The time limit an attempt's reads run under. */

describe('withTimeout', () => {
  it('with no time left, aborts and rejects as a timeout, leaving no unhandled rejection behind', async () => {
    // A read already waiting, which the abort rejects (as an upstream body does when its request is aborted).
    let rejectRead: (err: Error) => void = () => {};
    const read = new Promise<never>((_, reject) => {
      rejectRead = reject;
    });
    let aborted = false;
    const attempt = {
      abort: () => {
        aborted = true;
        rejectRead(new Error('aborted'));
      },
    } as unknown as Attempt;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(withTimeout(read, 0, attempt)).rejects.toMatchObject({ outcome: 'timeout' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(aborted).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('passes a value through when it comes in time', async () => {
    const attempt = { abort: () => {} } as unknown as Attempt;
    await expect(withTimeout(Promise.resolve(7), 1_000, attempt)).resolves.toBe(7);
  });
});
