import { Stack } from 'aws-cdk-lib';
import { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMeasuredOps } from '../../cost/measured-ops.js';
import { BASELINE_MB, estimate, memoryWithinBudget, TTFT_BUDGET_MS } from '../../cost/model.js';
import prices from '../../cost/prices.json' with { type: 'json' };
import { readStack, type StackSettings, synthesizeTemplate } from '../../cost/stack.js';
import { defineTiergateApp } from '../../infra/tiergate-app.js';

const ops = readMeasuredOps(new URL('../../cost/measured-ops.json', import.meta.url).pathname);
const traffic = { requestsPerDay: 100_000, avgSeconds: 12, streamShare: 0.8, tokensPerSecond: 50 };

let deployed: StackSettings;

beforeAll(() => {
  deployed = readStack(synthesizeTemplate());
});

describe('the cost model reads the synthesized stack', () => {
  it('finds the streaming function, the usage consumers, the schedules and the tables', () => {
    expect(deployed.completions.name).toBe('ApiCompletions');
    expect(deployed.completions.arch).toBe('arm64');
    expect(deployed.usageConsumers.map((f) => f.name).sort()).toEqual(['SpendGuardrail', 'UsageBilling']);
    const reconcile = deployed.schedules.find((s) => s.target.kind === 'function');
    expect(reconcile?.runsPerMonth).toBe(8760); // every 5 minutes, the reconcileIntervalMinutes default
    const probe = deployed.schedules.find((s) => s.target.kind === 'stateMachine');
    expect(probe?.target.kind === 'stateMachine' && probe.target.tasks.map((t) => t.name)).toEqual(
      Array(6).fill('SyntheticProbe'),
    );
    expect(deployed.tables.every((t) => t.onDemand && t.pointInTimeRecovery)).toBe(true);
    expect(deployed.alarmMetrics).toBeGreaterThan(10);
  });

  it('gives the completions function the memory the committed measurement sizes it to', () => {
    // Right-sized from the gateway's CPU before the first token (`npm run bench`), within the
    // added-TTFT budget of the 1,024 MB baseline: a new measurement that moves it fails here.
    const sized = memoryWithinBudget(ops.completions.cpuMsPerRequestBase, BASELINE_MB, TTFT_BUDGET_MS);
    expect(deployed.completions.memoryMb).toBe(sized);
  });

  it('moves the estimate when a function memory changes in the stack', () => {
    const doubled = deployed.completions.memoryMb * 2;
    const changed = readStack(
      synthesizeTemplate((app) => {
        const stack = defineTiergateApp(app);
        for (const child of stack.node.findAll()) {
          if (
            child instanceof CfnFunction &&
            Stack.of(child).getLogicalId(child) === deployed.completions.id
          ) {
            child.memorySize = doubled;
          }
        }
      }),
    );
    expect(changed.completions.memoryMb).toBe(doubled);
    const before = estimate(deployed, ops, prices, traffic);
    const after = estimate(changed, ops, prices, traffic);
    const completions = (e: typeof before) => e.lines.find((l) => l.item.startsWith('completions'))?.usd ?? 0;
    // Duration is billed by memory: twice the memory, almost twice the completions bill.
    expect(completions(after)).toBeGreaterThan(1.9 * completions(before));
    expect(after.totalUsd - before.totalUsd).toBeCloseTo(completions(after) - completions(before), 6);
  });
});
