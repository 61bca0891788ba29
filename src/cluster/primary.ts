// `affix serve --workers N`: the primary process; migrates, forks N workers sharing the port, keeps them running, answers their calls.
import cluster, { type Worker } from 'node:cluster';
import Fastify from 'fastify';
import { pino } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config.js';
import { metricsRoute } from '../http/metrics.js';
import { openStores } from '../server.js';
import { isCall, WORKER_CANNOT_START, WORKER_SLOT_ENV, type CallMessage, type Calls, type ReplyMessage } from './link.js';
import { LockTable } from './locks.js';
import { RateLedger } from './rate-budget.js';

/** A worker that dies sooner than this after its start counts toward a crash loop. */
const EARLY_DEATH_MS = 10_000;
/** Early deaths in a row, in one slot, after which the primary gives up and stops the rest. */
const MAX_EARLY_DEATHS = 5;

/**
 * Runs until SIGTERM or SIGINT. Migrations run here, once, before any worker opens the stores. A worker
 * that dies is replaced (its locks and leases are released first); a slot whose workers keep dying at
 * start stops the whole server with exit code 1 rather than loop. The primary serves no request
 * itself: Node's cluster hands each new connection to the next worker (round robin).
 */
export async function runPrimary(config: Config): Promise<number> {
  const log = pino({ level: config.logLevel, ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname' } } } : {}) });
  const { meta, blobs } = await openStores(config);
  await meta.close();
  blobs.close();

  const locks = new LockTable();
  const ledger = new RateLedger(config.workers);
  const aggregator = new AggregatorRegistry();
  /** Each live worker's slot and start time, by cluster worker id. */
  const slots = new Map<number, { slot: number; startedAt: number }>();
  const earlyDeaths = new Array<number>(config.workers).fill(0);
  let stopping = false;
  let failed = false;

  const answer = async (worker: Worker, call: CallMessage): Promise<Calls[keyof Calls]['answer']> => {
    switch (call.kind) {
      case 'lock':
        return locks.take(worker.id, (call.ask as Calls['lock']['ask']).name);
      case 'unlock':
        locks.release(worker.id, (call.ask as Calls['unlock']['ask']).name);
        return true;
      case 'budget': {
        const { key, window, max } = call.ask as Calls['budget']['ask'];
        return ledger.grant(key, window, max);
      }
      case 'budget-return': {
        const { key, window, count } = call.ask as Calls['budget-return']['ask'];
        ledger.giveBack(key, window, count);
        return true;
      }
      case 'metrics':
        return aggregator.clusterMetrics();
    }
  };

  const fork = (slot: number): void => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
    slots.set(worker.id, { slot, startedAt: Date.now() });
    worker.on('message', (message: unknown) => {
      if (!isCall(message)) return;
      answer(worker, message).then(
        (value) => send(worker, { affix: 'reply', id: message.id, answer: value }),
        (err: Error) => send(worker, { affix: 'reply', id: message.id, error: err.message }),
      );
    });
  };

  let listening = false;
  cluster.on('listening', (_worker, address) => {
    if (listening) return;
    listening = true;
    log.info({ workers: config.workers }, `affix: ${config.workers} workers serving at http://${address.address ?? config.host}:${address.port}`);
  });

  // Done once stopping and every worker has exited (at once when none was left to stop).
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const finishIfDone = () => {
    if (stopping && slots.size === 0) finished();
  };

  cluster.on('exit', (worker, code, signal) => {
    locks.releaseAll(worker.id);
    const { slot, startedAt } = slots.get(worker.id)!;
    const lived = Date.now() - startedAt;
    slots.delete(worker.id);
    if (!stopping) {
      earlyDeaths[slot] = lived < EARLY_DEATH_MS ? earlyDeaths[slot]! + 1 : 0;
      if (code === WORKER_CANNOT_START) {
        log.error({ slot }, 'a worker could not start: stopping');
        failed = true;
        stop();
      } else if (earlyDeaths[slot]! >= MAX_EARLY_DEATHS) {
        log.error({ slot, code, signal }, `worker slot ${slot} died ${MAX_EARLY_DEATHS} times in a row within ${EARLY_DEATH_MS / 1000} s of starting: stopping`);
        failed = true;
        stop();
      } else {
        log.error({ slot, workerPid: worker.process.pid, code, signal }, 'a worker died; starting another in its slot');
        fork(slot);
      }
    } else if (code !== 0) {
      failed = true;
    }
    finishIfDone();
  });

  // `--metrics-port`: every worker's metrics, summed, from the primary (the workers share the public port only).
  const metricsApp = config.metricsPort === null ? null : Fastify({ logger: false });
  if (metricsApp) {
    metricsRoute(metricsApp, { render: async () => ({ type: aggregator.contentType, body: await aggregator.clusterMetrics() }) }, config.metricsToken);
    log.info(`metrics at ${await metricsApp.listen({ host: config.host, port: config.metricsPort! })}/metrics`);
  }

  function stop(): void {
    if (stopping) return;
    stopping = true;
    // Each worker finishes its requests within the shutdown grace (see startServer's close); past it and
    // a margin, what is left is killed.
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    }, config.shutdownGraceMs + 10_000).unref();
    finishIfDone();
  }
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  for (let slot = 0; slot < config.workers; slot++) fork(slot);
  await done;
  await metricsApp?.close();
  log.flush?.();
  return failed ? 1 : 0;
}

function send(worker: Worker, message: ReplyMessage): void {
  if (worker.isConnected()) worker.send(message);
}
