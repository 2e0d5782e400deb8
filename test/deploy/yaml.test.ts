// The deployment files under deploy/ (Kubernetes Jobs, a Tekton Task, a GitHub Actions
// workflow): each parses as one YAML document without warnings, uses only field names of its
// API where the docs rely on them (a misspelt securityContext field would be silently ignored
// by a cluster), carries the settings docs/kubernetes.md describes, and calls ocibuild with
// flags that `ocibuild build --help` lists, so renaming a flag fails here. No JSON schema of
// these APIs is installed (node_modules has none), so the checks are written out.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot, runCli } from '../helpers/cli.ts';

type Json = Record<string, unknown>;

function load(file: string): Json {
  const docs = parseAllDocuments(readFileSync(path.join(repoRoot, file), 'utf8'), { uniqueKeys: true, prettyErrors: true });
  assert.equal(docs.length, 1, `${file}: one document`);
  const doc = docs[0]!;
  assert.deepEqual([...doc.errors, ...doc.warnings].map((e) => e.message), [], `${file}: parses cleanly`);
  return doc.toJS() as Json;
}

function obj(value: unknown, where: string): Json {
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${where} is a mapping`);
  return value as Json;
}

function arr(value: unknown, where: string): unknown[] {
  assert.ok(Array.isArray(value), `${where} is a list`);
  return value;
}

/** Fails on any key of `value` not in `known` (names from the Kubernetes/Tekton API reference). */
function onlyKnownKeys(value: Json, known: readonly string[], where: string): void {
  const unknown = Object.keys(value).filter((k) => !known.includes(k));
  assert.deepEqual(unknown, [], `${where}: unknown fields`);
}

const CONTAINER_SECURITY_CONTEXT = ['allowPrivilegeEscalation', 'appArmorProfile', 'capabilities', 'privileged', 'procMount', 'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxOptions', 'seccompProfile', 'windowsOptions'];
const POD_SECURITY_CONTEXT = ['appArmorProfile', 'fsGroup', 'fsGroupChangePolicy', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxChangePolicy', 'seLinuxOptions', 'seccompProfile', 'supplementalGroups', 'supplementalGroupsPolicy', 'sysctls', 'windowsOptions'];
const CONTAINER = ['name', 'image', 'command', 'args', 'env', 'envFrom', 'resources', 'securityContext', 'volumeMounts', 'workingDir', 'imagePullPolicy', 'ports', 'stdin', 'tty'];
const POD_SPEC = ['restartPolicy', 'automountServiceAccountToken', 'hostUsers', 'securityContext', 'initContainers', 'containers', 'volumes', 'serviceAccountName', 'nodeSelector', 'tolerations', 'affinity', 'imagePullSecrets', 'activeDeadlineSeconds'];
const TEKTON_STEP = ['name', 'image', 'args', 'command', 'script', 'env', 'workingDir', 'computeResources', 'securityContext', 'volumeMounts', 'onError', 'timeout', 'results'];

/** Every `--flag` that `ocibuild build --help` documents. */
let buildFlags: Set<string>;

before(async () => {
  const help = await runCli(['build', '--help']);
  assert.equal(help.code, 0, help.stderr);
  buildFlags = new Set([...help.stdout.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]));
  assert.ok(buildFlags.has('--cache-repo') && buildFlags.has('--to') && buildFlags.has('--compression'), 'the help was read');
});

/** Checks an `ocibuild build ...` argv: real flags, each value-taking flag followed by a value. */
function checkBuildArgs(args: readonly string[], where: string): Map<string, string> {
  assert.equal(args[0], 'build', `${where}: runs ocibuild build`);
  const values = new Map<string, string>();
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) continue;
    const flag = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    assert.ok(buildFlags.has(flag), `${where}: ${flag} is not a flag of ocibuild build (ocibuild build --help)`);
    const next = args[i + 1];
    if (!['--no-push', '--no-push-cache', '--no-cache', '--skip-tls-verify', '--keep-run-mtimes', '--json', '--verbose', '--quiet'].includes(flag)) {
      assert.ok(next !== undefined && !next.startsWith('--'), `${where}: ${flag} needs a value`);
      values.set(flag, next);
    }
  }
  return values;
}

/** Kubernetes quantities (`500m`, `1`, `256Mi`, `2Gi`) in base units. */
function quantity(value: unknown, where: string): number {
  const text = String(value);
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$/.exec(text);
  assert.ok(match, `${where}: ${text} is a quantity`);
  const scale: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(match[1]) * (match[2] ? scale[match[2]]! : 1);
}

interface JobParts {
  pod: Json;
  container: Json;
  security: Json;
  args: Map<string, string>;
}

function checkJob(file: string): JobParts {
  const job = load(file);
  assert.equal(job.apiVersion, 'batch/v1', `${file}: apiVersion`);
  assert.equal(job.kind, 'Job', `${file}: kind`);
  const pod = obj(obj(obj(job.spec, 'spec').template, 'spec.template').spec, 'spec.template.spec');
  onlyKnownKeys(pod, POD_SPEC, `${file} pod spec`);
  assert.ok(['Never', 'OnFailure'].includes(String(pod.restartPolicy)), `${file}: a Job's restartPolicy`);
  onlyKnownKeys(obj(pod.securityContext, 'pod securityContext'), POD_SECURITY_CONTEXT, `${file} pod securityContext`);
  const containers = arr(pod.containers, 'containers').map((c, i) => obj(c, `containers[${i}]`));
  for (const c of [...containers, ...arr(pod.initContainers ?? [], 'initContainers').map((c) => obj(c, 'initContainer'))]) {
    onlyKnownKeys(c, CONTAINER, `${file} container ${String(c.name)}`);
    if (c.securityContext !== undefined) onlyKnownKeys(obj(c.securityContext, 'securityContext'), CONTAINER_SECURITY_CONTEXT, `${file} container ${String(c.name)} securityContext`);
  }
  const container = containers.find((c) => c.name === 'ocibuild');
  assert.ok(container, `${file}: a container named ocibuild`);
  assert.match(String(container.image), /^[a-z0-9.-]+(:\d+)?\/[\w./-]+:[\w.-]+$/, `${file}: image reference with a tag`);
  const args = checkBuildArgs(arr(container.args, 'args').map(String), file);
  assert.ok(args.has('--to'), `${file}: --to`);
  assert.ok(args.has('--cache-repo'), `${file}: a shared --cache-repo`);

  // Credentials: the docker-registry Secret's .dockerconfigjson mounted as DOCKER_CONFIG/config.json.
  const env = arr(container.env, 'env').map((e) => obj(e, 'env'));
  const dockerConfig = env.find((e) => e.name === 'DOCKER_CONFIG')?.value;
  assert.equal(typeof dockerConfig, 'string', `${file}: DOCKER_CONFIG set`);
  const mount = arr(container.volumeMounts, 'volumeMounts').map((m) => obj(m, 'mount')).find((m) => m.mountPath === dockerConfig);
  assert.ok(mount, `${file}: a volume mounted at DOCKER_CONFIG`);
  const volume = arr(pod.volumes, 'volumes').map((v) => obj(v, 'volume')).find((v) => v.name === mount.name);
  const secret = obj(volume?.secret, `${file}: the DOCKER_CONFIG volume is a Secret`);
  assert.deepEqual(secret.items, [{ key: '.dockerconfigjson', path: 'config.json' }], `${file}: .dockerconfigjson as config.json`);

  // Resources: requests for scheduling, a memory limit at least the request.
  const resources = obj(container.resources, 'resources');
  const requests = obj(resources.requests, 'requests');
  const limits = obj(resources.limits, 'limits');
  assert.ok(quantity(requests.cpu, 'cpu') > 0);
  assert.ok(quantity(limits.memory, 'memory limit') >= quantity(requests.memory, 'memory request'), `${file}: memory limit >= request`);
  // Layers spill to /tmp: it must be a writable volume when the root filesystem is read-only.
  const tmp = arr(container.volumeMounts, 'volumeMounts').map((m) => obj(m, 'mount')).find((m) => m.mountPath === '/tmp');
  assert.ok(tmp, `${file}: /tmp is a volume`);
  return { pod, container, security: obj(container.securityContext, 'securityContext'), args };
}

describe('deploy/kubernetes', () => {
  it('job.yaml runs RUN steps unprivileged: pod user namespace, unmasked /proc, unshare allowed', () => {
    const { pod, security } = checkJob('deploy/kubernetes/job.yaml');
    assert.equal(pod.hostUsers, false, 'hostUsers: false (procMount Unmasked requires it)');
    assert.equal(security.procMount, 'Unmasked');
    assert.notEqual(security.privileged, true, 'never privileged');
    assert.ok(['Unconfined', 'Localhost'].includes(String(obj(security.seccompProfile, 'seccompProfile').type)), 'a seccomp profile allowing unshare');
    assert.ok(['Unconfined', 'Localhost'].includes(String(obj(security.appArmorProfile, 'appArmorProfile').type)), 'an AppArmor profile allowing mount');
    // newuidmap/newgidmap are setuid helpers: escalation and SETUID/SETGID must stay.
    assert.notEqual(security.allowPrivilegeEscalation, false);
    const dropped = (obj(security.capabilities ?? {}, 'capabilities').drop ?? []) as string[];
    assert.ok(!dropped.includes('ALL') && !dropped.includes('SETUID') && !dropped.includes('SETGID'), 'SETUID/SETGID kept');
    const podSecurity = obj(pod.securityContext, 'pod securityContext');
    assert.equal(podSecurity.runAsNonRoot, true);
  });

  it('job-no-run.yaml meets the Pod Security "restricted" level', () => {
    const { pod, security } = checkJob('deploy/kubernetes/job-no-run.yaml');
    const podSecurity = obj(pod.securityContext, 'pod securityContext');
    assert.equal(podSecurity.runAsNonRoot, true);
    assert.equal(obj(podSecurity.seccompProfile, 'seccompProfile').type, 'RuntimeDefault');
    assert.equal(pod.hostUsers, undefined, 'no user namespace needed');
    assert.equal(security.allowPrivilegeEscalation, false);
    assert.equal(security.readOnlyRootFilesystem, true);
    assert.deepEqual(obj(security.capabilities, 'capabilities').drop, ['ALL']);
    assert.equal(security.procMount, undefined);
    assert.equal(security.seccompProfile, undefined, 'inherits RuntimeDefault from the pod');
  });

  it('run-base.Dockerfile installs what RUN needs and gives the user a subordinate range inside 65,536 ids', () => {
    const text = readFileSync(path.join(repoRoot, 'deploy/kubernetes/run-base.Dockerfile'), 'utf8');
    assert.match(text, /bubblewrap/);
    assert.match(text, /uidmap/);
    const range = /node:(\d+):(\d+).*\/etc\/subuid/.exec(text);
    assert.ok(range, 'an /etc/subuid line');
    assert.ok(Number(range[1]) + Number(range[2]) <= 65_536, 'the range fits the pod user namespace');
  });
});

describe('deploy/tekton', () => {
  it('task.yaml is a v1 Task whose references resolve and whose build step uses real flags', () => {
    const task = load('deploy/tekton/task.yaml');
    assert.equal(task.apiVersion, 'tekton.dev/v1');
    assert.equal(task.kind, 'Task');
    const spec = obj(task.spec, 'spec');
    const params = new Set(arr(spec.params, 'params').map((p) => String(obj(p, 'param').name)));
    const results = new Set(arr(spec.results, 'results').map((r) => String(obj(r, 'result').name)));
    const workspaces = new Set(arr(spec.workspaces, 'workspaces').map((w) => String(obj(w, 'workspace').name)));
    assert.ok(results.has('IMAGE_DIGEST') && results.has('IMAGE_URL'), 'Tekton Chains results');
    const text = JSON.stringify(spec);
    for (const [, kind, name] of text.matchAll(/\$\((params|results|workspaces)\.([A-Za-z_][\w-]*)/g)) {
      const declared = kind === 'params' ? params : kind === 'results' ? results : workspaces;
      assert.ok(declared.has(name!), `$(${kind}.${name}) is declared`);
    }
    const steps = arr(spec.steps, 'steps').map((s) => obj(s, 'step'));
    for (const step of steps) {
      onlyKnownKeys(step, TEKTON_STEP, `step ${String(step.name)}`);
      if (step.securityContext !== undefined) onlyKnownKeys(obj(step.securityContext, 'securityContext'), CONTAINER_SECURITY_CONTEXT, `step ${String(step.name)} securityContext`);
    }
    const build = steps.find((s) => s.name === 'build-and-push');
    assert.ok(build);
    const args = checkBuildArgs(arr(build.args, 'args').map(String), 'tekton build-and-push');
    assert.equal(args.get('--digest-file'), '$(results.IMAGE_DIGEST.path)');
    assert.equal(args.get('--to'), '$(params.IMAGE)');
    assert.ok(args.has('--cache-repo'));
    assert.equal(obj(build.securityContext, 'securityContext').allowPrivilegeEscalation, false);
    assert.ok(obj(build.computeResources, 'computeResources').requests, 'v1 computeResources');
    const dockerConfig = arr(build.env, 'env').map((e) => obj(e, 'env')).find((e) => e.name === 'DOCKER_CONFIG');
    assert.equal(dockerConfig?.value, '$(workspaces.dockerconfig.path)');
  });
});

describe('deploy/github', () => {
  it('workflow.yml builds with ocibuild using real flags, credentials in config.json, a shared cache repo', () => {
    const workflow = load('deploy/github/workflow.yml');
    assert.ok(workflow.on !== undefined, 'an `on` trigger (YAML 1.2: not a boolean)');
    assert.equal(obj(workflow.permissions, 'permissions').packages, 'write');
    const jobs = Object.values(obj(workflow.jobs, 'jobs')).map((j) => obj(j, 'job'));
    const steps = jobs.flatMap((j) => arr(j.steps, 'steps').map((s) => obj(s, 'step')));
    const scripts = steps.map((s) => (typeof s.run === 'string' ? s.run : '')).join('\n');
    assert.match(scripts, /\$HOME\/\.docker\/config\.json/, 'credentials where ocibuild reads them');
    const invocations = [...scripts.replace(/\\\n\s*/g, ' ').matchAll(/ocibuild(?:@[\w.-]+)? (build [^\n]*)/g)].map((m) => m[1]!);
    assert.ok(invocations.length >= 2, 'a push build and a pull-request build');
    for (const line of invocations) {
      const argv = [...line.matchAll(/"[^"]*"|\S+/g)].map((m) => m[0].replace(/^"|"$/g, ''));
      const args = checkBuildArgs(argv, 'workflow');
      assert.ok(args.has('--cache-repo'), 'a shared --cache-repo');
    }
  });
});

describe('docs/kubernetes.md', () => {
  it('links every deployment file', () => {
    const doc = readFileSync(path.join(repoRoot, 'docs/kubernetes.md'), 'utf8');
    for (const file of ['deploy/kubernetes/job.yaml', 'deploy/kubernetes/job-no-run.yaml', 'deploy/kubernetes/run-base.Dockerfile', 'deploy/tekton/task.yaml', 'deploy/github/workflow.yml']) {
      assert.ok(doc.includes(`../${file}`), `docs/kubernetes.md links ${file}`);
    }
  });
});
