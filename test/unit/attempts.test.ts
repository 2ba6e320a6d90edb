import { describe, expect, it, vi } from 'vitest';
import { type Attempt, TimeLimit } from '../../shared/lifecycle/attempts.js';
import { chunk, collect, harness, sse } from '../support/chat-lifecycle-harness.js';

/** The time limit an attempt's reads run under. */

describe('TimeLimit', () => {
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
      await expect(new TimeLimit(attempt, 0).within(read)).rejects.toMatchObject({ outcome: 'timeout' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(aborted).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('passes a value through when it comes in time', async () => {
    const attempt = { abort: () => {} } as unknown as Attempt;
    const limit = new TimeLimit(attempt, 1_000);
    await expect(limit.within(Promise.resolve(7))).resolves.toBe(7);
    limit.clear();
  });

  it('settles a wait under way as a timeout before aborting, and fails every later wait at once', async () => {
    vi.useFakeTimers();
    try {
      // A read under way, which the abort rejects (as an upstream body does when its request is aborted).
      let rejectRead: (err: Error) => void = () => {};
      const read = new Promise<never>((_, reject) => {
        rejectRead = reject;
      });
      let aborted = 0;
      const attempt = {
        abort: () => {
          aborted++;
          rejectRead(new Error('aborted'));
        },
      } as unknown as Attempt;
      const limit = new TimeLimit(attempt, 100);
      await expect(limit.within(Promise.resolve(1))).resolves.toBe(1);
      const waiting = limit.within(read);
      vi.advanceTimersByTime(100);
      await expect(waiting).rejects.toMatchObject({ outcome: 'timeout' });
      expect(aborted).toBe(1);
      await expect(limit.within(Promise.resolve(2))).rejects.toMatchObject({ outcome: 'timeout' });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the wait for a stream's first content", () => {
  it('runs under one timer, however many events come before the content', async () => {
    const end = [chunk(null, { choices: [], usage: { prompt_tokens: 4, completion_tokens: 1 } }), '[DONE]'];
    const timersUntilServed = async (eventsBefore: number): Promise<number> => {
      const before = Array.from({ length: eventsBefore }, () => chunk(null));
      const h = harness({ script: async () => sse([...before, chunk('a'), ...end]) });
      const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
      let count: number;
      try {
        const res = await h.call({ stream: true });
        count = setTimeoutSpy.mock.calls.length;
        expect(await collect(res.body)).toContain('"content":"a"');
      } finally {
        setTimeoutSpy.mockRestore();
      }
      return count;
    };
    expect(await timersUntilServed(8)).toBe(await timersUntilServed(1));
  });
});
