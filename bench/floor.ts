/**
 * Figures read against the pass-through floor (floor-proxy.ts): what one more hop costs any proxy
 * on this machine (floor − direct), and what the gateway costs above that (gateway − floor), in
 * time to first token and in CPU of the gateway's thread. Pure arithmetic and its tables.
 */
import { deltaJson, type PhaseFigures, type TargetFigures, targetJson, targetOf } from './figures.js';
import { log } from './phases.js';
import { fmt, fmtSigned, table } from './report.js';
import { type Delta, delta, pairedDifferences, per, roundSummary, type Summary } from './stats.js';

/** CPU of one path's thread per request, split by the slope between short and long replies. */
export interface CpuSlope {
  /** CPU per request less its chunks. */
  cpuMsPerRequestBase: number;
  cpuUsPerChunk: number;
  chunksPerRequest: { short: number; long: number };
  cpuMsPerRequestShort: number;
  cpuMsPerRequestLong: number;
}

/**
 * One measured run: requests served, the thread's CPU over them (µs), streamed chunks per
 * request, and how long it lasted (ms).
 */
export interface CpuRun {
  requests: number;
  cpuUs: number;
  chunks: number;
  wallMs: number;
}

/**
 * The main thread's CPU rate with nothing in flight (µs per ms of wall time): timers, the local
 * bus, cache reloads, SDK housekeeping. It accrues with time, not with requests or chunks.
 */
export function idleRate(cpuUs: number, wallMs: number): number {
  return wallMs > 0 ? Math.max(0, cpuUs) / wallMs : 0;
}

/**
 * `run`'s CPU as if it had lasted `wallMs`: the idle rate's CPU for the difference is taken off
 * (or added). Used to bring runs of different lengths to one length before they are compared.
 */
export function atWall(run: CpuRun, idleUsPerMs: number, wallMs: number): CpuRun {
  return { ...run, cpuUs: run.cpuUs - idleUsPerMs * (run.wallMs - wallMs), wallMs };
}

/**
 * Per-request CPU of two runs differing only in reply length, as base + chunks × per chunk.
 * CPU that accrues with time rather than with chunks is charged to chunks by the slope unless
 * both runs last as long: measureCosts pads the short replies' time to first token so they do,
 * and `atWall` brings them to one length first, which takes off what the padding or any mismatch
 * left.
 */
export function cpuSlope(short: CpuRun, long: CpuRun): CpuSlope {
  const cpuShort = per(short.cpuUs, short.requests);
  const cpuLong = per(long.cpuUs, long.requests);
  const cpuUsPerChunk = per(cpuLong - cpuShort, long.chunks - short.chunks);
  return {
    cpuMsPerRequestBase: (cpuShort - cpuUsPerChunk * short.chunks) / 1000,
    cpuUsPerChunk,
    chunksPerRequest: { short: short.chunks, long: long.chunks },
    cpuMsPerRequestShort: cpuShort / 1000,
    cpuMsPerRequestLong: cpuLong / 1000,
  };
}

/** The gateway's CPU above the floor's (gateway − floor), figure by figure. */
export interface AboveFloor {
  cpuMsPerRequestBase: number;
  cpuUsPerChunk: number;
  cpuMsPerRequestShort: number;
  cpuMsPerRequestLong: number;
}

export function aboveFloor(gateway: CpuSlope, floor: CpuSlope): AboveFloor {
  return {
    cpuMsPerRequestBase: gateway.cpuMsPerRequestBase - floor.cpuMsPerRequestBase,
    cpuUsPerChunk: gateway.cpuUsPerChunk - floor.cpuUsPerChunk,
    cpuMsPerRequestShort: gateway.cpuMsPerRequestShort - floor.cpuMsPerRequestShort,
    cpuMsPerRequestLong: gateway.cpuMsPerRequestLong - floor.cpuMsPerRequestLong,
  };
}

/** Sequential streaming, all paths interleaved: the floor against direct and the gateway against the floor. */
export interface FloorLatency {
  direct: TargetFigures;
  floor: TargetFigures;
  gateway: TargetFigures;
  /**
   * floor − direct: one more hop, and whatever else holds up the gateway's thread (the billing
   * the gateway requests leave behind run there too; the direct path never waits for it).
   */
  floorOverDirect: { ttft: Delta; latency: Delta; pairedTtft: Summary };
  /** gateway − floor: the gateway's own work. */
  gatewayOverFloor: { ttft: Delta; latency: Delta; pairedTtft: Summary };
}

export function floorLatency(seqStream: PhaseFigures): FloorLatency {
  const direct = targetOf(seqStream, 'direct');
  const floor = targetOf(seqStream, 'floor');
  const gateway = targetOf(seqStream, 'gateway');
  return {
    direct,
    floor,
    gateway,
    // Rounds ran back to back, so round i of each path pairs up.
    floorOverDirect: {
      ttft: delta(direct.ttft, floor.ttft),
      latency: delta(direct.latency, floor.latency),
      pairedTtft: pairedDifferences(direct.ttfts, floor.ttfts),
    },
    gatewayOverFloor: {
      ttft: delta(floor.ttft, gateway.ttft),
      latency: delta(floor.latency, gateway.latency),
      pairedTtft: pairedDifferences(floor.ttfts, gateway.ttfts),
    },
  };
}

const signed = (d: Delta): string[] => [fmtSigned(d.p50), fmtSigned(d.p95), fmtSigned(d.p99)];

export function printFloorLatency(f: FloorLatency): void {
  log();
  log(
    'Against the pass-through floor (a proxy that only relays bytes, on the gateway’s thread), sequential stream, ms',
  );
  log(
    table(
      ['comparison', 'ttft Δp50', 'Δp95', 'Δp99', 'lat Δp50', 'Δp95', 'Δp99', 'paired ttft Δ median'],
      [
        [
          'floor − direct',
          ...signed(f.floorOverDirect.ttft),
          ...signed(f.floorOverDirect.latency),
          fmtSigned(f.floorOverDirect.pairedTtft.p50),
        ],
        [
          'gateway − floor',
          ...signed(f.gatewayOverFloor.ttft),
          ...signed(f.gatewayOverFloor.latency),
          fmtSigned(f.gatewayOverFloor.pairedTtft.p50),
        ],
        [
          'gateway − direct',
          ...signed(delta(f.direct.ttft, f.gateway.ttft)),
          ...signed(delta(f.direct.latency, f.gateway.latency)),
          fmtSigned(pairedDifferences(f.direct.ttfts, f.gateway.ttfts).p50),
        ],
      ],
    ),
  );
  log(
    `Floor TTFT p50 ${fmt(f.floor.ttft.p50)}  p95 ${fmt(f.floor.ttft.p95)}  p99 ${fmt(f.floor.ttft.p99)} ms ` +
      `(direct p50 ${fmt(f.direct.ttft.p50)}, gateway p50 ${fmt(f.gateway.ttft.p50)}); the floor shares the ` +
      'gateway’s thread, so it also waits for billing the gateway requests leave behind: gateway − floor is the fair read',
  );
}

/** The cost table's floor lines: the floor's own CPU, and the gateway's above it. */
export function floorCostLines(floor: CpuSlope, above: AboveFloor): string[] {
  const f = (x: number, d = 2) => fmt(x, d);
  const s = (x: number, d = 2) => fmtSigned(x, d);
  return [
    `  pass-through floor: ${f(floor.cpuMsPerRequestBase, 3)} ms CPU per request + ${f(floor.cpuUsPerChunk, 1)} µs per chunk ` +
      `(${f(floor.cpuMsPerRequestShort, 3)} ms at ${f(floor.chunksPerRequest.short, 0)} chunks, ` +
      `${f(floor.cpuMsPerRequestLong, 3)} ms at ${f(floor.chunksPerRequest.long, 0)})`,
    `  completions above the floor: ${s(above.cpuMsPerRequestBase, 3)} ms CPU per request, ` +
      `${s(above.cpuUsPerChunk, 1)} µs per chunk (${s(above.cpuMsPerRequestShort, 3)} ms short, ` +
      `${s(above.cpuMsPerRequestLong, 3)} ms long)`,
  ];
}

export function floorLatencyJson(f: FloorLatency) {
  return {
    note: 'a node:http proxy on the gateway’s thread that relays the upstream’s bytes unchanged; interleaved with direct and the gateways in the sequential streaming run',
    floor: targetJson(f.floor),
    floorOverDirect: {
      ttftMs: deltaJson(f.floorOverDirect.ttft),
      latencyMs: deltaJson(f.floorOverDirect.latency),
      pairedTtftDifferenceMs: roundSummary(f.floorOverDirect.pairedTtft),
    },
    gatewayOverFloor: {
      ttftMs: deltaJson(f.gatewayOverFloor.ttft),
      latencyMs: deltaJson(f.gatewayOverFloor.latency),
      pairedTtftDifferenceMs: roundSummary(f.gatewayOverFloor.pairedTtft),
    },
  };
}
