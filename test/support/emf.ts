import { type MockInstance, vi } from 'vitest';

/**
 * Captures the CloudWatch Embedded Metric Format lines that Powertools Metrics writes to stdout (Lambda ships
 * them to CloudWatch, which turns each into metrics), so tests can assert on what would reach CloudWatch.
 */

/** One metric as CloudWatch would store it: one per metric name and dimension set of an EMF blob. */
export interface EmittedMetric {
  namespace: string;
  name: string;
  /** The dimension set's keys with their values from the blob. */
  dimensions: Record<string, string>;
  value: number;
}

interface EmfBlob {
  _aws?: {
    CloudWatchMetrics?: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string }>;
    }>;
  };
  [field: string]: unknown;
}

/** Every metric an EMF line declares; a line that is not EMF yields none. */
export function metricsOfEmfLine(line: string): EmittedMetric[] {
  let blob: EmfBlob;
  try {
    blob = JSON.parse(line) as EmfBlob;
  } catch {
    return [];
  }
  const out: EmittedMetric[] = [];
  for (const directive of blob._aws?.CloudWatchMetrics ?? []) {
    for (const set of directive.Dimensions) {
      const dimensions = Object.fromEntries(set.map((key) => [key, String(blob[key])]));
      for (const { Name } of directive.Metrics) {
        // A metric added more than once to one blob is an array of values.
        const values = ([] as unknown[]).concat(blob[Name]);
        for (const value of values) {
          out.push({ namespace: directive.Namespace, name: Name, dimensions, value: Number(value) });
        }
      }
    }
  }
  return out;
}

/** Collects EMF lines written to stdout while running; other output is written through. */
export class EmfCapture {
  readonly metrics: EmittedMetric[] = [];
  private spy: MockInstance<typeof process.stdout.write> | undefined;

  start(): void {
    const write = process.stdout.write.bind(process.stdout) as (chunk: unknown) => boolean;
    this.spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
      const text = String(chunk);
      if (!text.includes('"CloudWatchMetrics"')) return write(chunk);
      for (const line of text.split('\n')) this.metrics.push(...metricsOfEmfLine(line));
      return true;
    });
  }

  stop(): void {
    this.spy?.mockRestore();
    this.spy = undefined;
  }

  /** The metrics emitted while `run` ran (and only those). */
  async during(run: () => Promise<unknown>): Promise<EmittedMetric[]> {
    const from = this.metrics.length;
    await run();
    return this.metrics.slice(from);
  }
}

/** The values of one metric, optionally only those with this exact dimension set. */
export function valuesOf(
  metrics: readonly EmittedMetric[],
  name: string,
  dimensions?: Record<string, string>,
): number[] {
  const wanted = dimensions === undefined ? undefined : JSON.stringify(sortedEntries(dimensions));
  return metrics
    .filter((m) => m.name === name)
    .filter((m) => wanted === undefined || JSON.stringify(sortedEntries(m.dimensions)) === wanted)
    .map((m) => m.value);
}

const sortedEntries = (record: Record<string, string>) =>
  Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
