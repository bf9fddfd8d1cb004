import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Envelope } from '../lambdas/shared/events/index.js';
import { IngestService } from '../lambdas/shared/ingest/IngestService.js';
import type { EventPublisher } from '../lambdas/shared/ingest/publisher.js';
import { LOCAL_TOPIC } from '../local/consumer/LocalConsumer.js';
import { ApiGatewayServer } from '../local/http/ApiGatewayServer.js';
import { ingestGatewayRoutes, logPublisher } from '../local/http/ingestApi.js';
import { LocalLog } from '../local/log/index.js';
import { generateTraffic } from '../local/traffic/generateTraffic.js';
import { percentile } from './percentile.js';

/** Accepts and drops: what the HTTP path costs without the log (`--publisher discard`). */
const DISCARD: EventPublisher = { publish: async () => undefined, close: async () => undefined };

/** Requests sent before timing starts: connections opened, code paths compiled. */
const WARM_UP_REQUESTS = 200;

interface Phase {
  readonly events: number;
  readonly requests: number;
  readonly seconds: number;
  /** Request latencies in milliseconds, sorted. */
  readonly latencies: readonly number[];
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * Sends every body as one POST to `path` from `concurrency` clients (each keeps its connection alive) and
 * times it. @throws {Error} when a request is not answered 202.
 */
async function drive(url: string, path: string, bodies: readonly string[], concurrency: number) {
  let next = 0;
  const latencies: number[] = [];
  const client = async (): Promise<void> => {
    for (let i = next++; i < bodies.length; i = next++) {
      const started = performance.now();
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bodies[i],
      });
      const text = await response.text();
      if (response.status !== 202) throw new Error(`${path} answered ${response.status}: ${text}`);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, client));
  return { seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

async function oneByOne(url: string, events: readonly Envelope[], concurrency: number): Promise<Phase> {
  const bodies = events.map((e) => JSON.stringify(e));
  return {
    events: events.length,
    requests: bodies.length,
    ...(await drive(url, '/v1/events', bodies, concurrency)),
  };
}

async function batched(
  url: string,
  events: readonly Envelope[],
  concurrency: number,
  size: number,
): Promise<Phase> {
  const bodies: string[] = [];
  for (let i = 0; i < events.length; i += size)
    bodies.push(JSON.stringify({ events: events.slice(i, i + size) }));
  return {
    events: events.length,
    requests: bodies.length,
    ...(await drive(url, '/v1/events/batch', bodies, concurrency)),
  };
}

const describePhase = (phase: Phase): string =>
  `${fmt(phase.events / phase.seconds)} events/s (${fmt(phase.events)} events, ${fmt(phase.requests)} requests ` +
  `in ${phase.seconds.toFixed(2)} s; ${fmt(phase.requests / phase.seconds)} requests/s; latency p50 ` +
  `${percentile(phase.latencies, 50).toFixed(1)} ms, p99 ${percentile(phase.latencies, 99).toFixed(1)} ms)`;

/**
 * Bytes and produce requests the producer sends to a real broker for the same events, with each
 * environment's producer configuration (`ingest.producer`) and uncompressed for reference: each publisher
 * writes through the fault proxy in front of the broker, whose byte counter is the wire; produce requests
 * are counted from kafkajs' request instrumentation. One broker, so one produce request per send. Skipped
 * with a notice when no broker can run here.
 */
async function bytesOnTheWire(events: readonly Envelope[], batch: number): Promise<void> {
  const { kafkaAvailability } = await import('../local/services/kafkaDistribution.js');
  const availability = await kafkaAvailability();
  if (!availability.available) {
    console.log(`bytes on the wire: skipped (${availability.reason})`);
    return;
  }
  const { KafkaCluster } = await import('../local/services/KafkaCluster.js');
  const { KafkaPublisher } = await import('../lambdas/shared/kafka/KafkaPublisher.js');
  const { loadEnvironmentConfig } = await import('../lib/config/index.js');
  const { Kafka } = await import('kafkajs');
  const variants = [
    ...(['dev', 'uat', 'prod'] as const).map((name) => ({
      name,
      settings: loadEnvironmentConfig(name).ingest.producer,
    })),
    { name: 'uncompressed', settings: { compression: 'none' as const, maxRecordsPerRequest: batch } },
  ];
  const cluster = await KafkaCluster.start({ nodes: 1, proxied: true, name: 'bench-wire' });
  try {
    const admin = await cluster.admin();
    await admin
      .createTopics({
        waitForLeaders: true,
        topics: variants.map((v) => ({ topic: `bench.${v.name}`, numPartitions: 12 })),
      })
      .finally(() => admin.disconnect());
    const proxy = cluster.proxy(1);
    const measure = async (variant: (typeof variants)[number]) => {
      let produceRequests = 0;
      const publisher = new KafkaPublisher({
        brokers: cluster.brokers,
        clientId: `bench-${variant.name}`,
        settings: variant.settings,
        logger: new Logger({ serviceName: 'bench', logLevel: 'SILENT' }),
        createClient: (config) => {
          const kafka = new Kafka(config);
          return {
            producer: (producerConfig) => {
              const producer = kafka.producer(producerConfig);
              producer.on(producer.events.REQUEST, ({ payload }) => {
                if (payload.apiName === 'Produce') produceRequests += 1;
              });
              return producer;
            },
          };
        },
      });
      const topic = `bench.${variant.name}`;
      // Connected and metadata fetched before counting.
      await publisher.publish(topic, events.slice(0, 1));
      const before = { bytes: proxy.stats().bytesUp, requests: produceRequests };
      const started = performance.now();
      let calls = 0;
      for (let i = 1; i < events.length; i += batch) {
        await publisher.publish(topic, events.slice(i, i + batch));
        calls += 1;
      }
      const seconds = (performance.now() - started) / 1000;
      await publisher.close();
      return {
        bytes: proxy.stats().bytesUp - before.bytes,
        requests: produceRequests - before.requests,
        calls,
        seconds,
      };
    };
    const sent = events.length - 1;
    const measured = [];
    for (const variant of variants) measured.push({ variant, ...(await measure(variant)) });
    const reference = measured.find((m) => m.variant.name === 'uncompressed')?.bytes ?? Number.NaN;
    for (const m of measured) {
      const { compression, maxRecordsPerRequest } = m.variant.settings;
      console.log(
        `bytes on the wire, ${m.variant.name.padEnd(12)} (${compression}, ${maxRecordsPerRequest} records/request): ` +
          `${fmt(m.bytes)} bytes for ${fmt(sent)} events (${(m.bytes / sent).toFixed(1)} bytes/event, ` +
          `${((m.bytes / reference) * 100).toFixed(1)}% of uncompressed), ${m.calls} publish calls of ${batch}, ` +
          `${m.requests} produce requests (${(m.requests / sent).toFixed(4)} requests/event), ` +
          `${fmt(sent / m.seconds)} events/s`,
      );
    }
  } finally {
    await cluster.destroy();
  }
}

const whole = (name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
    process.exit(2);
  }
  return n;
};

/**
 * `npm run bench -- ingest [--events N] [--concurrency N] [--batch N] [--partitions N] [--fsync on|off]
 * [--publisher log|discard]`: the ingest API over HTTP on loopback, through the local API Gateway, the real
 * routes and IngestService, onto a local log topic (no Redis: no Idempotency-Key is sent). Accepted events
 * per second sending each event alone versus in batches, in one run; client and server share this process
 * and its CPU. `--publisher discard` drops accepted events, leaving the cost of HTTP and validation.
 * Then, where a Kafka broker can run, the bytes the platform's producer sends for the same kind of events
 * with GZIP and uncompressed.
 */
export async function runBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '20000' },
      concurrency: { type: 'string', default: '16' },
      batch: { type: 'string', default: '100' },
      partitions: { type: 'string', default: '12' },
      fsync: { type: 'string', default: 'on' },
      publisher: { type: 'string', default: 'log' },
    },
  });
  const events = whole('events', values.events, 1);
  const concurrency = whole('concurrency', values.concurrency, 1);
  const batch = whole('batch', values.batch, 1, 500);
  const partitions = whole('partitions', values.partitions, 1);
  if (values.fsync !== 'on' && values.fsync !== 'off') {
    console.error(`--fsync must be on or off, got ${values.fsync}`);
    process.exit(2);
  }
  const fsync = values.fsync === 'on';
  if (values.publisher !== 'log' && values.publisher !== 'discard') {
    console.error(`--publisher must be log or discard, got ${values.publisher}`);
    process.exit(2);
  }
  const toLog = values.publisher === 'log';
  console.log(
    `ingest bench: ${fmt(events)} events per mode, ${concurrency} concurrent clients, ${batch} events per batch, ` +
      (toLog ? `${partitions} partitions, fsync ${values.fsync}` : 'events discarded after validation'),
  );

  const dir = await mkdtemp(join(tmpdir(), 'cdp-bench-ingest-'));
  let server: ApiGatewayServer | undefined;
  try {
    const log = await LocalLog.open(dir, { fsync });
    await log.createTopic(LOCAL_TOPIC, partitions);
    const service = new IngestService({
      publisher: toLog ? logPublisher(log) : DISCARD,
      topic: LOCAL_TOPIC,
      logger: new Logger({ serviceName: 'ingest', logLevel: 'ERROR' }),
      metrics: new Metrics({ namespace: 'CustomerDataPlatform', serviceName: 'ingest' }),
    });
    server = await ApiGatewayServer.start({ routes: ingestGatewayRoutes(service) });
    const customers = Math.max(1, Math.floor(events / 5));
    const traffic = (prefix: string, count: number) =>
      generateTraffic({ events: count, customers: Math.min(customers, count), customerPrefix: prefix });

    const warmUp = traffic('bench-warm', WARM_UP_REQUESTS + batch * concurrency);
    await oneByOne(server.url, warmUp.slice(0, WARM_UP_REQUESTS), concurrency);
    await batched(server.url, warmUp.slice(WARM_UP_REQUESTS), concurrency, batch);

    const single = await oneByOne(server.url, traffic('bench-single', events), concurrency);
    const batches = await batched(server.url, traffic('bench-batch', events), concurrency, batch);

    const singleRate = single.events / single.seconds;
    const batchRate = batches.events / batches.seconds;
    console.log(`one-by-one (POST /v1/events): ${describePhase(single)}`);
    console.log(`batched    (POST /v1/events/batch, ${batch} per request): ${describePhase(batches)}`);
    console.log(`ratio batched / one-by-one: ${(batchRate / singleRate).toFixed(1)}x`);

    await bytesOnTheWire(traffic('bench-wire', Math.min(events, 20_000)), batch);

    if (!toLog) return;
    const reader = await LocalLog.open(dir, { fsync });
    let records = 0;
    for (let p = 0; p < partitions; p += 1) records += await reader.endOffset(LOCAL_TOPIC, p);
    const expected = warmUp.length + 2 * events;
    console.log(`log: ${fmt(records)} records in ${LOCAL_TOPIC} (expected ${fmt(expected)})`);
    if (records !== expected) process.exitCode = 1;
  } finally {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
