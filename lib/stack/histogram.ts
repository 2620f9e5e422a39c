import type { Metric, Registry } from "prom-client";

/** A value as prom-client's Registry writes it: `labels` first, then `sharedLabels` (the series' own). */
interface Value {
  metricName: string;
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
}

/** What prom-client's Registry reads from a metric (its typings call `type` an enum; at run time it is the string). */
interface Exposed {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: Value[];
}

/** One series of a CountedHistogram: what a replica's hot path observes into. */
export interface HistogramSeries {
  observe(value: number): void;
}

interface Series {
  labels: Record<string, string>;
  counts: Float64Array;
  sum: number;
  count: number;
  /** exposed: observed at least once, or zeroed */
  shown: boolean;
}

/**
 * A Prometheus histogram counted in typed arrays and exposed through a prom-client Registry as
 * prom-client's own Histogram exposes it (the same lines in the same order). prom-client's labelled
 * child checks and hashes its labels and looks its bucket up by a float-valued object key on every
 * observation; a replica makes 13 of them a request, which was 7–9 % of its CPU at the shipped rate
 * (CPU profile of the replicas under `npm run bench:stack`), on a host with no core to spare.
 */
export class CountedHistogram<L extends string = string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, Series>();

  constructor(o: { name: string; help: string; labelNames?: readonly L[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = o.name;
    this.help = o.help;
    this.labelNames = o.labelNames ?? [];
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    // prom-client's Registry takes any object with its Metric's shape: name, help, type, get()
    for (const r of o.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values (in labelNames' order), exposed from its first observation. */
  labels(...values: string[]): HistogramSeries {
    const s = this.at(values);
    const counts = s.counts;
    const bounds = this.bounds;
    return {
      observe(value: number): void {
        let i = 0;
        while (i < bounds.length && value > (bounds[i] as number)) i++;
        if (i < bounds.length) counts[i] = (counts[i] as number) + 1;
        s.sum += value;
        s.count++;
        s.shown = true;
      },
    };
  }

  /** The series exposed at zero before its first observation, as prom-client's zero() does. */
  zero(labels: Partial<Record<L, string>>): void {
    this.at(this.labelNames.map((n) => labels[n] ?? "")).shown = true;
  }

  private at(values: readonly string[]): Series {
    const key = values.join("\u0000");
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i] ?? ""));
      s = { labels, counts: new Float64Array(this.bounds.length), sum: 0, count: 0, shown: false };
      this.series.set(key, s);
    }
    return s;
  }

  /** What the Registry writes: the `le` label first, the series' own labels after it (prom-client's shared labels). */
  getForPromString(): Exposed {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      if (!s.shown) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** The same, each value's labels whole: what Registry.getMetricsAsJSON reads (nothing here calls it; the Metric shape has it). */
  get(): Exposed {
    const m = this.getForPromString();
    return { ...m, values: m.values.map((v) => ({ value: v.value, metricName: v.metricName, labels: { ...v.sharedLabels, ...v.labels } })) };
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
