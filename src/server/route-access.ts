// Every route's access, declared once where it is registered (`config.access`, or `public`, or
// the agent protocol's and the trigger route's own authentication), enforced here for all of them:
//
// - at registration: a route of the API that declares nothing, or a role without a project in its
//   path, is a startup error, so no route can be added without saying who may call it; the
//   declaration is also written into the route's OpenAPI operation as `x-gantry-access` (API.md's
//   role table and the test that walks every route read it back);
// - before a role route's handler (preValidation, so before the body is even looked at): its
//   project is found from the path (`:project`, or the project of `/pipelines/:id` or
//   `/jobs/:id`) and the policy asked. A project the caller may not see is answered exactly as one
//   that does not exist (404, same body); one it may see but not act on is 403. An own-account
//   route keyed by `:username` has its account found and checked the same way (the user
//   themself, or an admin). Handlers take what was found from the request (`routeProject`,
//   `routeTarget`, `routeAccount`) and never look it up unchecked.

import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { asJobId, asPipelineId, asProjectId, type ProjectId } from '../domain/ids.js';
import type { Job, Pipeline, Project, Store } from '../store/store.js';
import type { Role, User } from '../store/users.js';
import { ApiError } from './errors.js';
import { describePrincipal, isRole, levelOn, may, roleRefusal, ROUTE_ACCESS, type RouteAccess } from './policy.js';
import type { Principal } from './policy.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route asks of its caller (policy.ts); every authenticated route of the API declares it. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The project (and pipeline, job) a role route is about, found and checked before its handler. */
    target: RouteTarget | null;
    /** The account of an own-account route keyed by `:username`, found and checked before its handler. */
    account: RouteAccount | null;
  }
}

export interface RouteTarget {
  projectId: ProjectId;
  /** Set for routes keyed by `:project`. */
  project?: Project;
  /** Set for routes keyed by a pipeline or job id. */
  pipeline?: Pipeline;
  /** Set for routes keyed by a job id. */
  job?: Job;
}

/** The account an own-account route keyed by `:username` is about, found and checked before its handler. */
export interface RouteAccount {
  user: User;
}

/** How a role route names its project. */
export type ProjectLocator = 'project' | 'pipeline' | 'job';

export function locatorOf(url: string): ProjectLocator | null {
  if (/\/:project(\/|$)/.test(url)) return 'project';
  if (/^\/api\/v1\/pipelines\/:id(\/|$)/.test(url)) return 'pipeline';
  if (/^\/api\/v1\/jobs\/:id(\/|$)/.test(url)) return 'job';
  return null;
}

/** What a route's OpenAPI operation says of its caller (`x-gantry-access`). */
export type DeclaredAccess = RouteAccess | 'public' | 'agent' | 'trigger-token';

export function declaredAccess(config: RouteOptions['config']): DeclaredAccess | undefined {
  if (config?.public) return 'public';
  if (config?.agentProtocol !== undefined) return 'agent';
  if (config?.triggerToken) return 'trigger-token';
  return config?.access;
}

const ID = /^[1-9][0-9]{0,14}$/;

const notFound = (what: string) => new ApiError('GANTRY_E_NOT_FOUND', `no ${what}`);

/** `:project` as an id (all digits) or a name. */
export async function findProject(store: Store, param: string): Promise<Project | null> {
  return /^[0-9]+$/.test(param) ? store.getProject(asProjectId(Number(param))) : store.getProject(param);
}

/**
 * The project `param` names, if the caller may see it (else 404, as for a project that does not
 * exist) and has `role` in it (else 403).
 */
export async function visibleProject(store: Store, principal: Principal, param: string, role: Role): Promise<Project> {
  const project = await findProject(store, param);
  if (!project || levelOn(principal, project.id) === null) throw notFound(`project ${JSON.stringify(param)}`);
  if (!may(principal, { kind: 'project', projectId: project.id, role })) throw new ApiError('GANTRY_E_FORBIDDEN', roleRefusal(principal, project.id, project.name, role));
  return project;
}

async function refuseUnlessRole(store: Store, principal: Principal, projectId: ProjectId, role: Role): Promise<void> {
  if (may(principal, { kind: 'project', projectId, role })) return;
  const project = await store.getProject(projectId);
  throw new ApiError('GANTRY_E_FORBIDDEN', roleRefusal(principal, projectId, project?.name ?? String(projectId), role));
}

async function locate(store: Store, principal: Principal, locator: ProjectLocator, params: Record<string, string>, role: Role): Promise<RouteTarget | null> {
  if (locator === 'project') {
    const project = await visibleProject(store, principal, params.project ?? '', role);
    return { projectId: project.id, project };
  }
  // A malformed id is left to the schema (400); the handler never runs without a target.
  if (!ID.test(params.id ?? '')) return null;
  const id = Number(params.id);
  let job: Job | undefined;
  let pipelineId = asPipelineId(id);
  if (locator === 'job') {
    job = (await store.getJob(asJobId(id))) ?? undefined;
    if (!job) throw notFound(`job ${id}`);
    pipelineId = job.pipelineId;
  }
  const pipeline = await store.getPipelineOnly(pipelineId);
  const what = locator === 'job' ? `job ${id}` : `pipeline ${id}`;
  if (!pipeline || levelOn(principal, pipeline.projectId) === null) throw notFound(what);
  await refuseUnlessRole(store, principal, pipeline.projectId, role);
  return { projectId: pipeline.projectId, pipeline, ...(job ? { job } : {}) };
}

/**
 * The user `:username` names, if the caller may act on their account: themself, or an admin.
 * Whether a user exists is an admin's business: anyone else is refused alike (403).
 */
async function locateAccount(store: Store, principal: Principal, username: string): Promise<RouteAccount> {
  const user = await store.users.getUser(username);
  const admin = may(principal, { kind: 'administer' });
  if (!user && admin) throw new ApiError('GANTRY_E_NOT_FOUND', `no user ${JSON.stringify(username)}`);
  if (!user || !may(principal, { kind: 'own-account', userId: user.id })) {
    throw new ApiError('GANTRY_E_FORBIDDEN', `${describePrincipal(principal)} may act on its own account only`);
  }
  const { passwordHash: _hash, ...plain } = user;
  return { user: plain };
}

export function installRouteAccess(app: FastifyInstance, store: Store): void {
  app.decorateRequest('target', null);
  app.decorateRequest('account', null);
  app.addHook('onRoute', (route) => {
    // The web UI's files and the like outside the API say `public` too; only the API is held to this.
    const declared = declaredAccess(route.config);
    const where = `${String(route.method)} ${route.url}`;
    if (declared === undefined) {
      throw new Error(`${where} declares no access: set config.access (${ROUTE_ACCESS.join(', ')}), or config.public`);
    }
    if (isRole(declared) && locatorOf(route.url ?? '') === null) {
      throw new Error(`${where} asks for the role ${declared} but its path names no project (:project, /pipelines/:id, /jobs/:id)`);
    }
    route.schema = { ...route.schema, 'x-gantry-access': declared } as typeof route.schema;
  });
  app.addHook('preValidation', async (request) => {
    const access = request.routeOptions.config.access;
    if (request.principal === null) return;
    if (access === 'own-account' && /\/:username(\/|$)/.test(request.routeOptions.url ?? '')) {
      request.account = await locateAccount(store, request.principal, (request.params as { username: string }).username);
      return;
    }
    if (!isRole(access)) return;
    const locator = locatorOf(request.routeOptions.url ?? '')!;
    request.target = await locate(store, request.principal, locator, request.params as Record<string, string>, access);
  });
}

/** The checked target of a role route (its project found and the caller's role in it checked). */
export function routeTarget(request: FastifyRequest): RouteTarget {
  if (request.target === null) throw new Error(`${request.method} ${request.routeOptions.url}: no checked project (does the route declare a role?)`);
  return request.target;
}

/** The checked project of a route keyed by `:project`. */
export function routeProject(request: FastifyRequest): Project {
  const project = routeTarget(request).project;
  if (!project) throw new Error(`${request.method} ${request.routeOptions.url}: the route is not keyed by :project`);
  return project;
}

/** The checked account of an own-account route keyed by `:username`. */
export function routeAccount(request: FastifyRequest): User {
  if (request.account === null) throw new Error(`${request.method} ${request.routeOptions.url}: no checked account (is the route own-account, keyed by :username?)`);
  return request.account.user;
}
