import type { Template } from 'aws-cdk-lib/assertions';

/**
 * Every CloudWatch metric a synthesized template reads: in alarms (single metrics and the metrics of metric
 * math, SEARCH expressions included) and in dashboard widgets. Values CloudFormation resolves at deploy time
 * (Ref, GetAtt, …) are rendered as TOKEN.
 */

export const TOKEN = '<token>';

export interface ReferencedMetric {
  /** Where it is read: `alarm <logical id>` or `dashboard "<widget title>"`. */
  where: string;
  namespace: string;
  name: string;
  /** The exact dimension set; a value of `undefined` matches any value (a SEARCH names keys only). */
  dimensions: Record<string, string | undefined>;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** Renders a CloudFormation value to a string, deploy-time values as TOKEN. */
export function renderValue(value: Json): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const join = value['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(renderValue).join(join[0]);
    }
    return TOKEN;
  }
  return String(value);
}

// SEARCH('{Namespace,key1,key2} MetricName="Name"', …): the schema fixes the exact dimension keys.
const SEARCH = /SEARCH\(\s*'\{([^}]*)\}\s+MetricName=\\?"([^"\\]+)\\?"/g;

export function searchMetrics(expression: string, where: string): ReferencedMetric[] {
  return [...expression.matchAll(SEARCH)].map(([, schema = '', name = '']) => {
    const [namespace = '', ...keys] = schema.split(',').map((part) => part.trim().replace(/^"|"$/g, ''));
    return { where, namespace, name, dimensions: Object.fromEntries(keys.map((key) => [key, undefined])) };
  });
}

interface AlarmMetricJson {
  Namespace?: string;
  MetricName?: string;
  Dimensions?: Array<{ Name: string; Value: Json }>;
}

const fromAlarmMetric = (metric: AlarmMetricJson, where: string): ReferencedMetric => ({
  where,
  namespace: metric.Namespace ?? '',
  name: metric.MetricName ?? '',
  dimensions: Object.fromEntries((metric.Dimensions ?? []).map((d) => [d.Name, renderValue(d.Value)])),
});

export function alarmMetrics(template: Template): ReferencedMetric[] {
  const out: ReferencedMetric[] = [];
  for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    const where = `alarm ${id}`;
    const props = alarm.Properties as AlarmMetricJson & {
      Metrics?: Array<{ Expression?: string; MetricStat?: { Metric: AlarmMetricJson } }>;
    };
    if (props.MetricName !== undefined) out.push(fromAlarmMetric(props, where));
    for (const query of props.Metrics ?? []) {
      if (query.MetricStat) out.push(fromAlarmMetric(query.MetricStat.Metric, where));
      if (query.Expression) out.push(...searchMetrics(query.Expression, where));
    }
  }
  return out;
}

interface DashboardWidget {
  type: string;
  properties?: { title?: string; metrics?: Array<Array<string | Record<string, unknown>>> };
}

export function dashboardMetrics(template: Template): ReferencedMetric[] {
  const out: ReferencedMetric[] = [];
  for (const dashboard of Object.values(template.findResources('AWS::CloudWatch::Dashboard'))) {
    const body = JSON.parse(renderValue(dashboard.Properties.DashboardBody as Json)) as {
      widgets: DashboardWidget[];
    };
    for (const widget of body.widgets) {
      const where = `dashboard "${widget.properties?.title ?? widget.type}"`;
      for (const row of widget.properties?.metrics ?? []) {
        const [first, second, ...rest] = row;
        if (typeof first === 'object') {
          const expression = (first as { expression?: string }).expression;
          if (expression !== undefined) out.push(...searchMetrics(expression, where));
          continue;
        }
        // [namespace, name, key, value, key, value, …, {options}]
        const pairs = rest.filter((part): part is string => typeof part === 'string');
        if (pairs.some((part) => part === '.' || part === '...')) {
          throw new Error(`${where}: shorthand metric rows are not understood here`);
        }
        const dimensions: Record<string, string> = {};
        for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
        out.push({ where, namespace: first ?? '', name: String(second), dimensions });
      }
    }
  }
  return out;
}
