import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, beforeEach, describe, test } from 'node:test';
import YAML from 'yaml';
import { KubernetesEmulator } from '../../src/emulator/kubernetes/index.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

interface ReqOpts {
  body?: unknown;
  contentType?: string;
  token?: string | null;
  accept?: string;
  rawBody?: string | Buffer;
}

function call(e: KubernetesEmulator, method: string, path: string, o: ReqOpts = {}): Promise<Res> {
  const body = o.rawBody ?? (o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
  const headers: Record<string, string> = { Accept: o.accept ?? 'application/json' };
  if (o.token !== null) headers['Authorization'] = `Bearer ${o.token ?? e.token}`;
  if (body !== undefined) {
    headers['Content-Type'] = o.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${e.endpoint}${path}`, { method, headers, ca: e.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const CONFIGMAPS = '/api/v1/namespaces/kube-system/configmaps';
const JOINING = '/apis/update.edgeless.systems/v1alpha1/joiningnodes';
const NODEVERSIONS = '/apis/update.edgeless.systems/v1alpha1/nodeversions';

const secret = (name: string, data: Record<string, string> = { a: 'YQ==' }) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data });
const joiningNode = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'update.edgeless.systems/v1alpha1',
  kind: 'JoiningNode',
  metadata: { name },
  spec: { name, componentsreference: 'k8s-components-sha256-abc', iscontrolplane: false, deadline: '2026-01-24T15:29:08Z', ...spec },
});

describe('Kubernetes emulator', () => {
  let e: KubernetesEmulator;
  before(async () => {
    e = await KubernetesEmulator.start();
  });
  after(async () => {
    await e.stop();
  });
  beforeEach(() => e.reset());

  describe('authentication and authorization', () => {
    test('401 Status without or with a wrong token', async () => {
      for (const token of [null, 'wrong']) {
        const r = await call(e, 'GET', `${SECRETS}/x`, { token });
        assert.equal(r.status, 401);
        assert.deepEqual(r.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      }
    });

    test('read-only token may get and list but not write (403 with RBAC wording)', async () => {
      e.objects.secrets.put({ metadata: { name: 's', namespace: 'kube-system' }, type: 'Opaque' });
      assert.equal((await call(e, 'GET', `${SECRETS}/s`, { token: e.readOnlyToken })).status, 200);
      assert.equal((await call(e, 'GET', SECRETS, { token: e.readOnlyToken })).status, 200);
      const r = await call(e, 'POST', SECRETS, { token: e.readOnlyToken, body: secret('t') });
      assert.equal(r.status, 403);
      assert.equal(r.json.reason, 'Forbidden');
      assert.equal(
        r.json.message,
        'secrets is forbidden: User "system:serviceaccount:kube-system:read-only" cannot create resource "secrets" in API group "" in the namespace "kube-system"',
      );
      const p = await call(e, 'PATCH', `${JOINING}/n?fieldManager=m`, { token: e.readOnlyToken, body: joiningNode('n'), contentType: 'application/apply-patch+yaml' });
      assert.equal(p.status, 403);
      assert.equal(
        p.json.message,
        'joiningnodes.update.edgeless.systems "n" is forbidden: User "system:serviceaccount:kube-system:read-only" cannot patch resource "joiningnodes" in API group "update.edgeless.systems" at the cluster scope',
      );
      assert.deepEqual(p.json.details, { name: 'n', group: 'update.edgeless.systems', kind: 'joiningnodes' });
    });
  });

  describe('core objects', () => {
    test('create sets uid, resourceVersion, creationTimestamp and managedFields; get returns it', async () => {
      const r = await call(e, 'POST', SECRETS, { body: secret('s1') });
      assert.equal(r.status, 201);
      const m = r.json.metadata;
      assert.equal(m.name, 's1');
      assert.equal(m.namespace, 'kube-system');
      assert.match(m.uid, /^[0-9a-f-]{36}$/);
      assert.match(m.resourceVersion, /^\d+$/);
      assert.match(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(m.managedFields[0].operation, 'Update');
      assert.deepEqual(m.managedFields[0].fieldsV1, { 'f:data': { 'f:a': {} }, 'f:type': {} });
      assert.deepEqual(Object.keys(r.json), ['apiVersion', 'kind', 'metadata', 'data', 'type']);
      const g = await call(e, 'GET', `${SECRETS}/s1`);
      assert.equal(g.status, 200);
      assert.deepEqual(g.json, r.json);
      assert.deepEqual(e.objects.secrets.get('kube-system', 's1'), r.json);
    });

    test('Secret type defaults to Opaque and stringData is merged into data', async () => {
      const r = await call(e, 'POST', SECRETS, { body: { metadata: { name: 's2' }, stringData: { k: 'v' } } });
      assert.equal(r.status, 201);
      assert.equal(r.json.type, 'Opaque');
      assert.deepEqual(r.json.data, { k: 'dg==' });
      assert.equal(r.json.stringData, undefined);
    });

    test('404 NotFound in the apiserver wording', async () => {
      const r = await call(e, 'GET', `${SECRETS}/missing`);
      assert.equal(r.status, 404);
      assert.deepEqual(r.json, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'secrets "missing" not found',
        reason: 'NotFound',
        details: { name: 'missing', kind: 'secrets' },
        code: 404,
      });
      const cr = await call(e, 'GET', `${NODEVERSIONS}/constellation-version`);
      assert.equal(cr.json.message, 'nodeversions.update.edgeless.systems "constellation-version" not found');
      assert.deepEqual(cr.json.details, { name: 'constellation-version', group: 'update.edgeless.systems', kind: 'nodeversions' });
    });

    test('409 AlreadyExists on a second create', async () => {
      await call(e, 'POST', CONFIGMAPS, { body: { metadata: { name: 'cm' }, data: { a: 'b' } } });
      const r = await call(e, 'POST', CONFIGMAPS, { body: { metadata: { name: 'cm' }, data: { a: 'b' } } });
      assert.equal(r.status, 409);
      assert.equal(r.json.reason, 'AlreadyExists');
      assert.equal(r.json.message, 'configmaps "cm" already exists');
    });

    test('PUT: stale resourceVersion → 409 Conflict; current or absent resourceVersion → update', async () => {
      const created = (await call(e, 'POST', SECRETS, { body: secret('s3') })).json;
      const rv1 = created.metadata.resourceVersion;
      const upd = await call(e, 'PUT', `${SECRETS}/s3`, { body: { ...created, data: { a: 'Yg==' } } });
      assert.equal(upd.status, 200);
      assert.notEqual(upd.json.metadata.resourceVersion, rv1);
      assert.equal(upd.json.metadata.uid, created.metadata.uid);
      assert.equal(upd.json.metadata.creationTimestamp, created.metadata.creationTimestamp);
      const stale = await call(e, 'PUT', `${SECRETS}/s3`, { body: { ...created, data: { a: 'Yw==' } } });
      assert.equal(stale.status, 409);
      assert.equal(stale.json.reason, 'Conflict');
      assert.equal(stale.json.message, 'Operation cannot be fulfilled on secrets "s3": the object has been modified; please apply your changes to the latest version and try again');
      // Secrets allow unconditional updates (no resourceVersion).
      const uncond = await call(e, 'PUT', `${SECRETS}/s3`, { body: secret('s3', { a: 'ZA==' }) });
      assert.equal(uncond.status, 200);
      assert.equal(uncond.json.data.a, 'ZA==');
    });

    test('PUT of an unchanged object does not bump resourceVersion', async () => {
      const created = (await call(e, 'POST', SECRETS, { body: secret('same') })).json;
      const again = await call(e, 'PUT', `${SECRETS}/same`, { body: secret('same') });
      assert.equal(again.status, 200);
      assert.equal(again.json.metadata.resourceVersion, created.metadata.resourceVersion);
    });

    test('PUT of a missing object → 404; name mismatch → 400', async () => {
      assert.equal((await call(e, 'PUT', `${SECRETS}/nope`, { body: secret('nope') })).status, 404);
      const r = await call(e, 'PUT', `${SECRETS}/a`, { body: secret('b') });
      assert.equal(r.status, 400);
      assert.equal(r.json.reason, 'BadRequest');
      assert.equal(r.json.message, 'the name of the object (b) does not match the name on the URL (a)');
    });

    test('422 Invalid for bad names and keys, with causes', async () => {
      const r = await call(e, 'POST', SECRETS, { body: secret('Bad_Name') });
      assert.equal(r.status, 422);
      assert.equal(r.json.reason, 'Invalid');
      assert.match(r.json.message, /^Secret "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of/);
      assert.deepEqual(r.json.details.kind, 'Secret');
      assert.equal(r.json.details.causes[0].field, 'metadata.name');
      assert.equal(r.json.details.causes[0].reason, 'FieldValueInvalid');
      const k = await call(e, 'POST', CONFIGMAPS, { body: { metadata: { name: 'c' }, data: { 'bad key': 'x' } } });
      assert.equal(k.status, 422);
      assert.match(k.json.message, /^ConfigMap "c" is invalid: data\[bad key\]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters/);
      const n = await call(e, 'POST', SECRETS, { body: { metadata: {} } });
      assert.equal(n.status, 422);
      assert.equal(n.json.message, 'Secret "" is invalid: metadata.name: Required value: name or generateName is required');
    });

    test('400 for undecodable bodies, namespace mismatch and non-base64 Secret data', async () => {
      assert.equal((await call(e, 'POST', SECRETS, { rawBody: '{not json' })).status, 400);
      const ns = await call(e, 'POST', SECRETS, { body: { metadata: { name: 'x', namespace: 'default' } } });
      assert.equal(ns.status, 400);
      assert.equal(ns.json.message, 'the namespace of the provided object does not match the namespace sent on the request');
      const b = await call(e, 'POST', SECRETS, { body: secret('x', { a: 'not base64!' }) });
      assert.equal(b.status, 400);
    });

    test('create in a missing namespace → namespaces "x" not found', async () => {
      const r = await call(e, 'POST', '/api/v1/namespaces/nowhere/secrets', { body: secret('x') });
      assert.equal(r.status, 404);
      assert.equal(r.json.message, 'namespaces "nowhere" not found');
    });

    test('immutable ConfigMap rejects data changes and un-immutabling with 422', async () => {
      const created = (await call(e, 'POST', CONFIGMAPS, { body: { metadata: { name: 'imm' }, immutable: true, data: { components: '[]' } } })).json;
      const r = await call(e, 'PUT', `${CONFIGMAPS}/imm`, { body: { ...created, data: { components: '[1]' } } });
      assert.equal(r.status, 422);
      assert.equal(r.json.message, 'ConfigMap "imm" is invalid: data: Forbidden: field is immutable when `immutable` is set');
      const r2 = await call(e, 'PUT', `${CONFIGMAPS}/imm`, { body: { ...created, immutable: false } });
      assert.equal(r2.status, 422);
      assert.match(r2.json.message, /immutable: Forbidden: field is immutable when `immutable` is set/);
      // Labels may still change.
      const r3 = await call(e, 'PUT', `${CONFIGMAPS}/imm`, { body: { ...created, metadata: { ...created.metadata, labels: { a: 'b' } } } });
      assert.equal(r3.status, 200);
    });

    test('Secret type is immutable', async () => {
      const created = (await call(e, 'POST', SECRETS, { body: secret('t') })).json;
      const r = await call(e, 'PUT', `${SECRETS}/t`, { body: { ...created, type: 'kubernetes.io/basic-auth' } });
      assert.equal(r.status, 422);
      assert.equal(r.json.message, 'Secret "t" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable');
    });

    test('list with label/field selectors and limit/continue; items carry no kind for core lists', async () => {
      for (const n of ['a', 'b', 'c']) await call(e, 'POST', SECRETS, { body: { ...secret(n), metadata: { name: n, labels: { tier: n === 'b' ? 'x' : 'y' } } } });
      const all = await call(e, 'GET', SECRETS);
      assert.equal(all.json.kind, 'SecretList');
      assert.deepEqual(all.json.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['a', 'b', 'c']);
      assert.equal(all.json.items[0].kind, undefined);
      const sel = await call(e, 'GET', `${SECRETS}?labelSelector=tier%3Dy`);
      assert.deepEqual(sel.json.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['a', 'c']);
      const f = await call(e, 'GET', `${SECRETS}?fieldSelector=metadata.name%3Db`);
      assert.deepEqual(f.json.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['b']);
      const p1 = await call(e, 'GET', `${SECRETS}?limit=2`);
      assert.equal(p1.json.items.length, 2);
      const p2 = await call(e, 'GET', `${SECRETS}?limit=2&continue=${p1.json.metadata.continue}`);
      assert.deepEqual(p2.json.items.map((i: { metadata: { name: string } }) => i.metadata.name), ['c']);
      assert.equal(p2.json.metadata.continue, undefined);
    });

    test('merge patch, JSON patch and strategic merge patch', async () => {
      await call(e, 'POST', CONFIGMAPS, { body: { metadata: { name: 'p' }, data: { a: '1', b: '2' } } });
      const m = await call(e, 'PATCH', `${CONFIGMAPS}/p`, { body: { data: { b: null, c: '3' } }, contentType: 'application/merge-patch+json' });
      assert.equal(m.status, 200);
      assert.deepEqual(m.json.data, { a: '1', c: '3' });
      const j = await call(e, 'PATCH', `${CONFIGMAPS}/p`, { body: [{ op: 'replace', path: '/data/a', value: 'x' }], contentType: 'application/json-patch+json' });
      assert.deepEqual(j.json.data, { a: 'x', c: '3' });
      const s = await call(e, 'PATCH', `${CONFIGMAPS}/p`, { body: { data: { d: '4' } }, contentType: 'application/strategic-merge-patch+json' });
      assert.deepEqual(s.json.data, { a: 'x', c: '3', d: '4' });
      const bad = await call(e, 'PATCH', `${CONFIGMAPS}/p`, { body: {}, contentType: 'text/plain' });
      assert.equal(bad.status, 415);
      const cr = await call(e, 'PATCH', `${JOINING}/x`, { body: {}, contentType: 'application/strategic-merge-patch+json' });
      assert.equal(cr.status, 415, 'custom resources do not support strategic merge patch');
    });

    test('delete returns a success Status (core) or the object (custom); then 404', async () => {
      const created = (await call(e, 'POST', SECRETS, { body: secret('d') })).json;
      const d = await call(e, 'DELETE', `${SECRETS}/d`);
      assert.equal(d.status, 200);
      assert.deepEqual(d.json.details, { name: 'd', kind: 'secrets', uid: created.metadata.uid });
      assert.equal(d.json.status, 'Success');
      assert.equal((await call(e, 'DELETE', `${SECRETS}/d`)).status, 404);
      await call(e, 'POST', JOINING, { body: joiningNode('n1') });
      const dc = await call(e, 'DELETE', `${JOINING}/n1`);
      assert.equal(dc.json.kind, 'JoiningNode');
      assert.equal(e.objects.joiningnodes.get('n1'), undefined);
    });

    test('delete precondition on resourceVersion → 409', async () => {
      await call(e, 'POST', SECRETS, { body: secret('pre') });
      const r = await call(e, 'DELETE', `${SECRETS}/pre`, { body: { preconditions: { resourceVersion: '1' } } });
      assert.equal(r.status, 409, r.text);
      assert.match(r.json.message, /^Operation cannot be fulfilled on secrets "pre": Precondition failed: ResourceVersion in precondition: 1/);
    });

    test('bodies above the limit → 413', async () => {
      const big = 'x'.repeat(1024 * 1024 + 10);
      const r = await call(e, 'POST', CONFIGMAPS, { rawBody: big });
      assert.equal(r.status, 413);
      assert.equal(r.json.reason, 'RequestEntityTooLarge');
    });

    test('server-side Table output for kubectl', async () => {
      await call(e, 'POST', SECRETS, { body: { ...secret('tb'), type: 'bootstrap.kubernetes.io/token' } });
      const r = await call(e, 'GET', `${SECRETS}/tb`, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
      assert.equal(r.json.kind, 'Table');
      assert.deepEqual(
        r.json.columnDefinitions.map((c: { name: string }) => c.name),
        ['Name', 'Type', 'Data', 'Age'],
      );
      assert.deepEqual(r.json.rows[0].cells.slice(0, 3), ['tb', 'bootstrap.kubernetes.io/token', 1]);
      assert.equal(r.json.rows[0].object.kind, 'PartialObjectMetadata');
    });
  });

  describe('custom resources', () => {
    test('JoiningNode create: generation 1, unknown fields pruned, status dropped, 409 for a second control-plane', async () => {
      const body = { ...joiningNode('control-plane', { iscontrolplane: true, extra: 'x' }), status: { a: 1 }, unknown: 1 };
      const r = await call(e, 'POST', JOINING, { body });
      assert.equal(r.status, 201);
      assert.equal(r.json.metadata.generation, 1);
      assert.equal(r.json.spec.extra, undefined);
      assert.equal(r.json.unknown, undefined);
      assert.equal(r.json.status, undefined);
      assert.deepEqual(Object.keys(r.json), ['apiVersion', 'kind', 'metadata', 'spec']);
      const again = await call(e, 'POST', JOINING, { body: joiningNode('control-plane') });
      assert.equal(again.status, 409);
      assert.equal(again.json.reason, 'AlreadyExists');
      assert.equal(again.json.message, 'joiningnodes.update.edgeless.systems "control-plane" already exists');
    });

    test('schema validation: wrong types and bad date-time → 422', async () => {
      const r = await call(e, 'POST', JOINING, { body: joiningNode('n', { iscontrolplane: 'yes', deadline: 'tomorrow' }) });
      assert.equal(r.status, 422);
      assert.equal(r.json.details.kind, 'JoiningNode');
      assert.equal(r.json.details.group, 'update.edgeless.systems');
      assert.match(r.json.message, /^JoiningNode\.update\.edgeless\.systems "n" is invalid: \[/);
      assert.match(r.json.message, /spec\.iscontrolplane: Invalid value: "string": spec\.iscontrolplane in body must be of type boolean: "string"/);
      assert.match(r.json.message, /spec\.deadline: Invalid value: "tomorrow": spec\.deadline in body must be of type date-time: "tomorrow"/);
    });

    test('PUT of a custom resource requires a resourceVersion', async () => {
      const created = (await call(e, 'POST', JOINING, { body: joiningNode('n') })).json;
      const { resourceVersion: _rv, ...meta } = created.metadata;
      const r = await call(e, 'PUT', `${JOINING}/n`, { body: { ...created, metadata: meta } });
      assert.equal(r.status, 422);
      assert.equal(r.json.message, 'JoiningNode.update.edgeless.systems "n" is invalid: metadata.resourceVersion: Invalid value: "0x0": must be specified for an update');
      const ok = await call(e, 'PUT', `${JOINING}/n`, { body: { ...created, spec: { ...created.spec, componentsreference: 'other' } } });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.metadata.generation, 2);
    });

    test('status subresource: main resource ignores status, /status changes only status', async () => {
      e.objects.nodeversions.put({ metadata: { name: 'constellation-version' }, spec: { kubernetesComponentsReference: 'ref' } });
      const st = await call(e, 'PATCH', `${NODEVERSIONS}/constellation-version/status`, { body: { status: { budget: 2 }, spec: { image: 'ignored' } }, contentType: 'application/merge-patch+json' });
      assert.equal(st.status, 200);
      assert.deepEqual(st.json.status, { budget: 2 });
      assert.equal(st.json.spec.image, undefined);
      const main = await call(e, 'PATCH', `${NODEVERSIONS}/constellation-version`, { body: { status: { budget: 5 }, spec: { image: 'img' } }, contentType: 'application/merge-patch+json' });
      assert.deepEqual(main.json.status, { budget: 2 });
      assert.equal(main.json.spec.image, 'img');
    });
  });

  describe('server-side apply', () => {
    const apply = (name: string, body: unknown, query: string, contentType = 'application/apply-patch+yaml') =>
      call(e, 'PATCH', `${JOINING}/${name}${query}`, { body: typeof body === 'string' ? body : JSON.stringify(body), contentType });

    test('fieldManager is required → 422', async () => {
      const r = await apply('w1', joiningNode('w1'), '');
      assert.equal(r.status, 422);
      assert.equal(r.json.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    });

    test('creates when absent (201), records managedFields, re-apply updates (200)', async () => {
      const r = await apply('w1', joiningNode('w1'), '?fieldManager=join-service');
      assert.equal(r.status, 201);
      assert.deepEqual(r.json.metadata.managedFields.map((m: { manager: string; operation: string }) => [m.manager, m.operation]), [['join-service', 'Apply']]);
      assert.deepEqual(r.json.metadata.managedFields[0].fieldsV1, {
        'f:spec': { 'f:componentsreference': {}, 'f:deadline': {}, 'f:iscontrolplane': {}, 'f:name': {} },
      });
      const again = await apply('w1', joiningNode('w1', { deadline: '2026-01-25T00:00:00Z' }), '?fieldManager=join-service');
      assert.equal(again.status, 200);
      assert.equal(again.json.spec.deadline, '2026-01-25T00:00:00Z');
      assert.equal(again.json.metadata.uid, r.json.metadata.uid);
      assert.notEqual(again.json.metadata.resourceVersion, r.json.metadata.resourceVersion);
    });

    test('YAML bodies are accepted', async () => {
      const yaml = YAML.stringify(joiningNode('w2'));
      const r = await apply('w2', yaml, '?fieldManager=kubectl');
      assert.equal(r.status, 201);
      assert.equal(r.json.spec.name, 'w2');
    });

    test('conflicting manager → 409 Conflict with causes; force takes ownership; equal values are shared', async () => {
      await apply('w3', joiningNode('w3'), '?fieldManager=join-service');
      const same = await apply('w3', { ...joiningNode('w3'), spec: { name: 'w3' } }, '?fieldManager=other');
      assert.equal(same.status, 200, 'same value: shared ownership, no conflict');
      const c = await apply('w3', { ...joiningNode('w3'), spec: { componentsreference: 'changed' } }, '?fieldManager=other');
      assert.equal(c.status, 409);
      assert.equal(c.json.reason, 'Conflict');
      assert.equal(c.json.message, 'Apply failed with 1 conflict: conflict with "join-service": .spec.componentsreference');
      assert.deepEqual(c.json.details.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "join-service"', field: '.spec.componentsreference' }]);
      const f = await apply('w3', { ...joiningNode('w3'), spec: { componentsreference: 'changed' } }, '?fieldManager=other&force=true');
      assert.equal(f.status, 200);
      assert.equal(f.json.spec.componentsreference, 'changed');
      const other = f.json.metadata.managedFields.find((m: { manager: string }) => m.manager === 'other');
      // "other" no longer applies spec.name; join-service still owns it, so it stays.
      assert.deepEqual(other.fieldsV1, { 'f:spec': { 'f:componentsreference': {} } });
      assert.equal(f.json.spec.name, 'w3');
      const js = f.json.metadata.managedFields.find((m: { manager: string }) => m.manager === 'join-service');
      assert.deepEqual(js.fieldsV1, { 'f:spec': { 'f:deadline': {}, 'f:iscontrolplane': {}, 'f:name': {} } });
    });

    test('fields dropped from an applied config are removed unless owned by others', async () => {
      await apply('w4', joiningNode('w4'), '?fieldManager=a');
      const r = await apply('w4', { ...joiningNode('w4'), spec: { name: 'w4' } }, '?fieldManager=a');
      assert.deepEqual(r.json.spec, { name: 'w4' });
    });

    test('a stale resourceVersion in the applied config → 409', async () => {
      await apply('w5', joiningNode('w5'), '?fieldManager=a');
      const cfg = { ...joiningNode('w5'), metadata: { name: 'w5', resourceVersion: '1' } };
      assert.equal((await apply('w5', cfg, '?fieldManager=a')).status, 409);
    });

    test('apply to core objects, and non-apply updates conflict with an applier', async () => {
      const r = await call(e, 'PATCH', `${CONFIGMAPS}/sev-snp-cert-cache?fieldManager=m`, {
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sev-snp-cert-cache' }, data: { ask: 'a' } }),
        contentType: 'application/apply-patch+yaml',
      });
      assert.equal(r.status, 201);
      const upd = await call(e, 'PATCH', `${CONFIGMAPS}/sev-snp-cert-cache?fieldManager=editor`, { body: { data: { ask: 'b' } }, contentType: 'application/merge-patch+json' });
      assert.equal(upd.status, 200);
      const back = await call(e, 'PATCH', `${CONFIGMAPS}/sev-snp-cert-cache?fieldManager=m`, {
        body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'sev-snp-cert-cache' }, data: { ask: 'a' } }),
        contentType: 'application/apply-patch+yaml',
      });
      assert.equal(back.status, 409);
      assert.match(back.json.message, /conflict with "editor" using v1: \.data\.ask/);
    });
  });

  describe('discovery', () => {
    test('serves /api, /api/v1, /apis, the group version, /version and openapi', async () => {
      const api = await call(e, 'GET', '/api');
      assert.equal(api.json.kind, 'APIVersions');
      assert.deepEqual(api.json.versions, ['v1']);
      const v1 = await call(e, 'GET', '/api/v1');
      assert.ok(v1.json.resources.some((r: { name: string; kind: string }) => r.name === 'secrets' && r.kind === 'Secret'));
      assert.ok(v1.json.resources.some((r: { name: string; shortNames?: string[] }) => r.name === 'configmaps' && r.shortNames?.includes('cm')));
      const apis = await call(e, 'GET', '/apis');
      assert.equal(apis.json.groups[0].name, 'update.edgeless.systems');
      const gv = await call(e, 'GET', '/apis/update.edgeless.systems/v1alpha1');
      const names = gv.json.resources.map((r: { name: string }) => r.name);
      assert.deepEqual(names, ['nodeversions', 'nodeversions/status', 'joiningnodes', 'joiningnodes/status']);
      assert.equal(gv.json.resources[2].namespaced, false);
      const version = await call(e, 'GET', '/version');
      assert.equal(version.json.major, '1');
      const oa = await call(e, 'GET', '/openapi/v2');
      assert.equal(oa.json.swagger, '2.0');
      assert.equal((await call(e, 'GET', '/apis/nope.example.com/v1')).status, 404);
    });
  });

  describe('fault injection', () => {
    test('failNext answers the next N matching requests with the forced status', async () => {
      const h = e.faults.failNext(2, { status: 503 }, { method: 'GET', path: `${SECRETS}/x` });
      const a = await call(e, 'GET', `${SECRETS}/x`);
      const other = await call(e, 'GET', `${SECRETS}/y`);
      const b = await call(e, 'GET', `${SECRETS}/x`);
      const c = await call(e, 'GET', `${SECRETS}/x`);
      assert.deepEqual([a.status, other.status, b.status, c.status], [503, 404, 503, 404]);
      assert.equal(a.json.reason, 'ServiceUnavailable');
      assert.equal(h.hits, 2);
      const custom = e.faults.failNext(1, { status: 500, reason: 'InternalError', message: 'etcdserver: request timed out' });
      const d = await call(e, 'GET', '/api');
      assert.equal(d.status, 500);
      assert.equal(d.json.message, 'etcdserver: request timed out');
      assert.equal(custom.hits, 1);
    });

    test('delay holds matching requests', async () => {
      const h = e.faults.delay(50, { path: /\/configmaps\// }, 1);
      const r = await call(e, 'GET', `${CONFIGMAPS}/x`);
      assert.equal(r.status, 404);
      assert.equal(h.hits, 1);
    });

    test('outage refuse: connections are refused until restore', async () => {
      await e.faults.outage('refuse');
      await assert.rejects(call(e, 'GET', '/version'), { code: 'ECONNREFUSED' });
      await e.faults.restore();
      assert.equal((await call(e, 'GET', '/version')).status, 200);
    });

    test('outage reset: connections are reset until restore', async () => {
      await e.faults.outage('reset');
      await assert.rejects(call(e, 'GET', '/version'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || err.code === 'EPIPE');
      await e.faults.restore();
      assert.equal((await call(e, 'GET', '/version')).status, 200);
    });
  });

  test('kubeconfig() names the endpoint, CA and token', () => {
    const kc = YAML.parse(e.kubeconfig()) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: { token: string } }[];
      'current-context': string;
    };
    assert.equal(kc.clusters[0]!.cluster.server, e.endpoint);
    assert.equal(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), e.caPem);
    assert.equal(kc.users[0]!.user.token, e.token);
    assert.equal(kc['current-context'], 'emulator');
    assert.equal((YAML.parse(e.kubeconfig({ readOnly: true })) as { users: { user: { token: string } }[] }).users[0]!.user.token, e.readOnlyToken);
  });

  test('records requests', async () => {
    await call(e, 'GET', `${SECRETS}/x?pretty=true`);
    const last = e.requests.at(-1)!;
    assert.equal(last.method, 'GET');
    assert.equal(last.path, `${SECRETS}/x`);
    assert.deepEqual(last.query, { pretty: 'true' });
    assert.equal(last.status, 404);
  });
});
