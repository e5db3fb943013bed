/**
 * A counter and a histogram for what every request adds to: the series are bound once (an
 * operation's, an upstream's) and a request adds to plain numbers. prom-client's own children
 * check their labels and hash them on every `inc()` and `observe()`, which cost a few percent of
 * the CPU of a pass-through request (see the README's profile); these keep no more than numbers
 * and are read by prom-client's registry only when Prometheus scrapes, in the same text format
 * (a histogram's cumulative `_bucket` lines with `le` first, then `_sum` and `_count`).
 */
import type { Registry } from "prom-client";

type Labels = Readonly<Record<string, string>>;

/** One exported sample, as prom-client's registry formats it. */
interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

/** What prom-client's registry reads of a metric at scrape time. */
interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly aggregator: "sum";
  get(): Promise<{ name: string; help: string; type: string; aggregator: "sum"; values: Sample[] }>;
  reset(): void;
}

abstract class BoundMetric<Series> implements ScrapedMetric {
  abstract readonly type: "counter" | "histogram";
  readonly aggregator = "sum" as const;
  protected readonly series: { readonly labels: Labels; readonly series: Series }[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    registers: readonly Registry[],
  ) {
    for (const registry of registers) {
      registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
    }
  }

  protected bind(labels: Labels, series: Series): Series {
    this.series.push({ labels, series });
    return series;
  }

  protected abstract samples(labels: Labels, series: Series): Sample[];

  async get() {
    const values = this.series.flatMap(({ labels, series }) => this.samples(labels, series));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  abstract reset(): void;
}

/** One counter series: `inc()` adds one. */
export class CounterSeries {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter whose series are bound ahead; a series is exported from the moment it is bound. */
export class BoundCounter extends BoundMetric<CounterSeries> {
  readonly type = "counter" as const;

  labels(labels: Labels): CounterSeries {
    return this.bind(labels, new CounterSeries());
  }

  protected samples(labels: Labels, series: CounterSeries): Sample[] {
    return [{ value: series.value, labels: { ...labels } }];
  }

  reset(): void {
    for (const { series } of this.series) {
      series.value = 0;
    }
  }
}

/** One histogram series: `observe()` counts a value in the first bucket it fits. */
export class HistogramSeries {
  /** Per bucket, not cumulative; the last slot counts what is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    /** Exported before its first observation (a series Prometheus should see from zero). */
    readonly zeroed: boolean,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const { bounds } = this;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) {
      index++;
    }
    this.counts[index] = (this.counts[index] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/** A histogram whose series are bound ahead; a series is exported once observed (or if zeroed). */
export class BoundHistogram extends BoundMetric<HistogramSeries> {
  readonly type = "histogram" as const;

  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
    registers: readonly Registry[],
  ) {
    super(name, help, registers);
  }

  labels(labels: Labels, options: { zeroed?: boolean } = {}): HistogramSeries {
    return this.bind(labels, new HistogramSeries(this.bounds, options.zeroed === true));
  }

  protected samples(labels: Labels, series: HistogramSeries): Sample[] {
    if (series.count === 0 && !series.zeroed) {
      return [];
    }
    const bucket = `${this.name}_bucket`;
    let cumulative = 0;
    const samples: Sample[] = this.bounds.map((bound, index) => {
      cumulative += series.counts[index] as number;
      return { value: cumulative, labels: { le: bound, ...labels }, metricName: bucket };
    });
    samples.push(
      { value: series.count, labels: { le: "+Inf", ...labels }, metricName: bucket },
      { value: series.sum, labels: { ...labels }, metricName: `${this.name}_sum` },
      { value: series.count, labels: { ...labels }, metricName: `${this.name}_count` },
    );
    return samples;
  }

  reset(): void {
    for (const { series } of this.series) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
