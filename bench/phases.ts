/** Runs one measured phase at a time: settles the previous phase's billing, then times this one. */
import { performance } from 'node:perf_hooks';
import { USAGE_RULES } from '../shared/events/rules.js';
import type { ConcurrentArgs, SequentialArgs } from './client-worker.js';
import { type PhaseFigures, phaseErrors, phaseFigures } from './figures.js';
import type { PhaseResult } from './load.js';
import { SETTLE_MAX_MS } from './params.js';
import type { Session } from './session.js';

export const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The usage event consumers, which AWS runs as functions of their own. */
const CONSUMERS = ['billing', 'guardrail'] as const;

export class PhaseRunner {
  readonly phases: PhaseFigures[] = [];
  /** Usage events a phase held back from the consumers, to deliver before the next phase. */
  private held = false;

  constructor(private readonly session: Session) {}

  /**
   * Billing of one phase's requests (the local bus, on the main thread) must not spill into the
   * next phase: waits for it, within bounds, and returns how long that took.
   */
  async settle(): Promise<number> {
    const t0 = performance.now();
    const deadline = t0 + SETTLE_MAX_MS;
    const { bus } = this.session.runtime;
    if (this.held) {
      // Deliveries still between attempts finish (or land with the dead letters) first.
      await this.drain(deadline);
      this.held = false;
      for (const rule of USAGE_RULES) bus.redrive(rule.id);
    }
    await this.drain(deadline);
    return performance.now() - t0;
  }

  private async drain(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.session.runtime.bus.drain(),
      new Promise<void>((done) => {
        timer = setTimeout(done, Math.max(0, deadline - performance.now()));
      }),
    ]).finally(() => clearTimeout(timer));
  }

  sequential(label: string, args: SequentialArgs): Promise<PhaseFigures> {
    return this.run(label, () => this.session.client.call<PhaseResult>('sequential', args));
  }

  concurrent(label: string, args: ConcurrentArgs): Promise<PhaseFigures> {
    return this.run(label, () => this.session.client.call<PhaseResult>('concurrent', args));
  }

  /**
   * Requests before the first phase, not recorded. V8 compiles a function with its optimising tier
   * only once it has run many times, so code that runs once a request (parsing, admission, the
   * first frame, settlement) takes hundreds of requests to get there, as it has in a function
   * that has served traffic; the phases then time that code, not its first, unoptimised runs.
   */
  async warmUp(label: string, args: ConcurrentArgs): Promise<void> {
    if (args.total > 0) {
      await this.run(label, () => this.session.client.call<PhaseResult>('concurrent', args), 'held', false);
    }
  }

  /**
   * Settles, then times `go` as one phase. Deployed, billing and the guardrail are functions of
   * their own; locally they share the gateway's thread, so during a phase their deliveries are
   * held back (as dead letters) and redriven when the phase is over: the phase times the gateway
   * alone, and the consumers' cost is measured on its own. `consumers: 'as-is'` leaves the bus
   * as the caller set it. A phase not to `record` is left out of the phase table.
   */
  async run(
    label: string,
    go: () => Promise<PhaseResult>,
    consumers: 'held' | 'as-is' = 'held',
    record = true,
  ): Promise<PhaseFigures> {
    const { upstreamWorker, runtime } = this.session;
    process.stdout.write(`  ${label.padEnd(44)}`);
    const settleMs = await this.settle();
    await upstreamWorker.call('takeRequestCount');
    const gatewayElu0 = performance.eventLoopUtilization();
    const upstreamElu0 = upstreamWorker.elu();
    if (consumers === 'held') runtime.bus.setFaults({ failTargets: CONSUMERS });
    const t0 = performance.now();
    let phase: PhaseResult;
    try {
      phase = await go();
    } finally {
      if (consumers === 'held') {
        runtime.bus.setFaults({});
        this.held = true;
      }
    }
    const elapsed = performance.now() - t0;
    const f = phaseFigures(phase, await upstreamWorker.call<number>('takeRequestCount'), settleMs, {
      gateway: performance.eventLoopUtilization(gatewayElu0).utilization,
      client: phase.clientElu,
      upstream: upstreamWorker.elu(upstreamElu0).utilization,
    });
    const errors = phaseErrors(f);
    log(
      seconds(elapsed) +
        (settleMs >= 100 ? ` (after ${seconds(settleMs)} settling the previous phase)` : '') +
        (errors > 0 ? `  ${errors} FAILED` : '') +
        (phase.truncated ? '  (time limit hit: truncated)' : ''),
    );
    if (record) this.phases.push(f);
    return f;
  }
}
