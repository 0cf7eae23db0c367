// The process's own pressure, sampled by @fastify/under-pressure: the event loop's mean delay and
// its utilization over the last sample. Past either threshold the plugin asks `shed` about each
// request: API reads, writes, streams, sign-ins and webhooks are answered 503 at once, while the
// agent protocol and the health routes go through as if nothing happened. Below the thresholds
// there is a band where nothing is refused but live streams send fewer updates ("strained").

import type { FastifyInstance, FastifyRequest } from 'fastify';
import underPressure from '@fastify/under-pressure';

export interface PressureSettings {
  maxEventLoopDelayMs: number;
  maxEventLoopUtilization: number;
  sampleIntervalMs: number;
}

/**
 * Where streams start pacing their updates: a loop busy this much has little to spare, and a
 * stream's updates are the cheapest work to give up (the next one carries the same state).
 */
const STRAIN_UTILIZATION = 0.7;
const STRAIN_DELAY_MS = 50;

export interface PressureGauge {
  /** Past a threshold: work that may be shed is. */
  underPressure(): boolean;
  /** Busy enough that live streams should send fewer updates. */
  strained(): boolean;
}

/** `shed`: the error to answer a request with under pressure, or null to let it through. */
export async function installPressure(app: FastifyInstance, settings: PressureSettings, shed: (request: FastifyRequest) => Error | null): Promise<PressureGauge> {
  // The samples taken before two whole ones after the server listens measured its start
  // (migrations, building the routes, synchronous reads of files), not its traffic: a fresh
  // server would otherwise refuse its first requests for having started.
  let armedAt = Infinity;
  app.addHook('onListen', async () => {
    armedAt = Date.now() + 2 * settings.sampleIntervalMs;
  });
  const armed = () => Date.now() >= armedAt;
  await app.register(underPressure, {
    maxEventLoopDelay: settings.maxEventLoopDelayMs,
    maxEventLoopUtilization: settings.maxEventLoopUtilization,
    // The plugin's default is the utilization since the process started, which a long calm
    // uptime would dilute for ever; each sample on its own is what says "now".
    eventLoopUtilizationMode: 'interval',
    sampleInterval: settings.sampleIntervalMs,
    pressureHandler: (request) => {
      if (!armed()) return undefined;
      const err = shed(request);
      // A rejection is handed to the error handler like any hook's error; undefined lets it through.
      return err === null ? undefined : Promise.reject(err);
    },
  });
  return {
    underPressure: () => armed() && app.isUnderPressure(),
    strained: () => {
      if (!armed()) return false;
      const m = app.memoryUsage();
      return m.eventLoopUtilized > STRAIN_UTILIZATION || m.eventLoopDelay > STRAIN_DELAY_MS || app.isUnderPressure();
    },
  };
}
