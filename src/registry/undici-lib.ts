/**
 * The parts of undici the registry client uses (Agent, EnvHttpProxyAgent, buildConnector and
 * the dispatcher API with `request`), imported from their own files. undici's index also loads
 * fetch, WebSocket, EventSource, cookies, the cache and the mocks: measured as a bundle, 35 ms of
 * start-up for the index against 12 ms for these files, paid by every command that talks to a
 * registry and by every `import('ocibuild')`. The values are undici's own; their types are
 * undici's declarations. Only `ADD <url>` uses fetch, and it imports undici's index when it runs.
 * @module
 */
import type { Agent as AgentClass, buildConnector as buildConnectorFn, Dispatcher, EnvHttpProxyAgent as EnvHttpProxyAgentClass } from 'undici';
import AgentValue from 'undici/lib/dispatcher/agent.js';
import EnvHttpProxyAgentValue from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import buildConnectorValue from 'undici/lib/core/connect.js';
import DispatcherValue from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

/** undici's `Agent`. */
export const Agent = AgentValue as typeof AgentClass;
/** undici's `EnvHttpProxyAgent`. */
export const EnvHttpProxyAgent = EnvHttpProxyAgentValue as typeof EnvHttpProxyAgentClass;
/** undici's `buildConnector`. */
export const buildConnector = buildConnectorValue as typeof buildConnectorFn;

// What undici's index does when it loads: the request/stream/pipeline/connect/upgrade methods
// on every dispatcher. undici's own agents need them (ProxyAgent opens its tunnel with
// `connect`), and `request` below is the one ocibuild calls.
Object.assign((DispatcherValue as { prototype: object }).prototype, api);

/**
 * undici's `request(url, { dispatcher, ... })`, as its index defines it: the URL split into
 * origin and path (with the query), sent through `dispatcher`.
 */
export function request(url: URL, options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher }): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  return dispatcher.request({ ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
