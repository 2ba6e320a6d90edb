import { describe, expect, it } from 'vitest';
import { createSecretProvider } from '../../shared/runtime/secret-provider.js';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:upstream-AbCdEf';

/** A Secrets Manager stand-in: the value an operator last put, and how often it was read. */
function secretsManager(initial: string) {
  const sm = {
    value: initial,
    reads: 0,
    fail: false,
    fetch: async (arn: string) => {
      expect(arn).toBe(ARN);
      sm.reads++;
      if (sm.fail) throw new Error('AccessDenied');
      return sm.value;
    },
  };
  return sm;
}

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('secret provider', () => {
  it('reads the secret once per max age, so a put-secret-value reaches the instance without a redeploy', async () => {
    const sm = secretsManager('placeholder');
    const time = clock();
    const key = createSecretProvider(
      { secretArn: ARN },
      { maxAgeMs: 60_000, fetchSecret: sm.fetch, now: time.now },
    );
    expect(await Promise.all([key.get(), key.get(), key.get()])).toEqual([
      'placeholder',
      'placeholder',
      'placeholder',
    ]);
    expect(sm.reads).toBe(1);
    sm.value = 'sk-real';
    time.t += 30_000;
    expect(await key.get()).toBe('placeholder');
    time.t += 30_000;
    expect(await key.get()).toBe('sk-real');
    expect(sm.reads).toBe(2);
  });

  it('refreshes once on a 401 for the current value and says whether the value changed', async () => {
    const sm = secretsManager('placeholder');
    const time = clock();
    const key = createSecretProvider(
      { secretArn: ARN },
      { maxAgeMs: 3_600_000, fetchSecret: sm.fetch, now: time.now, minForcedRefreshMs: 10_000 },
    );
    const used = await key.get();
    sm.value = 'sk-real';
    // Concurrent 401s of one burst share a single read.
    expect(await Promise.all([key.onUnauthorized(used), key.onUnauthorized(used)])).toEqual([true, true]);
    expect(sm.reads).toBe(2);
    expect(await key.get()).toBe('sk-real');
    // A 401 for a value already replaced needs no read: retry with the current one.
    expect(await key.onUnauthorized('placeholder')).toBe(true);
    expect(sm.reads).toBe(2);
  });

  it('bounds forced reads while the key is simply wrong, and tells the caller not to retry', async () => {
    const sm = secretsManager('sk-revoked');
    const time = clock();
    const key = createSecretProvider(
      { secretArn: ARN },
      { maxAgeMs: 3_600_000, fetchSecret: sm.fetch, now: time.now, minForcedRefreshMs: 10_000 },
    );
    const used = await key.get();
    expect(await key.onUnauthorized(used)).toBe(false);
    expect(await key.onUnauthorized(used)).toBe(false);
    expect(sm.reads).toBe(2);
    time.t += 10_000;
    expect(await key.onUnauthorized(used)).toBe(false);
    expect(sm.reads).toBe(3);
  });

  it('does not cache a failed or empty read, and invalidate() forces the next read', async () => {
    const sm = secretsManager('sk-1');
    const key = createSecretProvider({ secretArn: ARN }, { maxAgeMs: 60_000, fetchSecret: sm.fetch });
    sm.fail = true;
    await expect(key.get()).rejects.toThrow('AccessDenied');
    sm.fail = false;
    sm.value = '  ';
    await expect(key.get()).rejects.toThrow('The secret is empty');
    sm.value = 'sk-1';
    expect(await key.get()).toBe('sk-1');
    sm.value = 'sk-2';
    key.invalidate();
    expect(await key.get()).toBe('sk-2');
    sm.value = 'sk-3';
    expect(await key.refresh()).toBe('sk-3');
    expect(sm.reads).toBe(5);
  });

  it('serves a plain local value as it is, with nothing to refresh', async () => {
    const key = createSecretProvider({ value: 'sk-local' }, { maxAgeMs: 1 });
    expect(await key.get()).toBe('sk-local');
    expect(await key.onUnauthorized('sk-local')).toBe(false);
    expect(await createSecretProvider({ value: undefined }, { maxAgeMs: 1 }).get()).toBeUndefined();
  });
});
