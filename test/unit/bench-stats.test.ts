import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinedTimeline, joinsPerSecond, percentile, ratio, routeOf, summarizeLatencies, type LoadNode } from '../../bench/join/stats.js';
import { deltaBy, metricBy, metricSum, parsePrometheusText } from '../../bench/join/prometheus.js';
import { parseProgressLine, parseResult, arrivalArgs } from '../../bench/join/load.js';
import { endpointFromLog, metricsUrlFromLog } from '../../bench/join/server.js';

test('nearest-rank percentiles like the Go load generator', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 50), 50);
  assert.equal(percentile(s, 95), 95);
  assert.equal(percentile(s, 99), 99);
  assert.equal(percentile(s, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), 0);
  assert.deepEqual(summarizeLatencies([5, 1, 4, 2, 3]), { p50: 3, p95: 5, p99: 5, max: 5 });
});

function node(i: number, doneMs: number, ok = true): LoadNode {
  return { i, arrivalMs: 0, doneMs, latencyMs: doneMs, attempts: 1, ok };
}

test('joined timeline: cumulative, failed nodes left out, bounded number of points', () => {
  assert.deepEqual(joinedTimeline([node(0, 30), node(1, 10), node(2, 20, false)]), [
    [0, 0],
    [10, 1],
    [30, 2],
  ]);
  const many = Array.from({ length: 1000 }, (_, i) => node(i, i + 1));
  const t = joinedTimeline(many, 50);
  assert.equal(t.length, 50);
  assert.deepEqual(t[0], [0, 0]);
  assert.deepEqual(t[t.length - 1], [1000, 1000]);
  for (let k = 1; k < t.length; k++) assert.ok(t[k]![1] >= t[k - 1]![1] && t[k]![0] > t[k - 1]![0]);
  assert.deepEqual(joinedTimeline([]), [[0, 0]]);
});

test('rates and ratios', () => {
  assert.equal(joinsPerSecond(100, 2000), 50);
  assert.equal(joinsPerSecond(0, 2000), 0);
  assert.equal(joinsPerSecond(5, 0), 0);
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(3, 0), null);
  assert.equal(ratio(null, 2), null);
});

test('Kubernetes routes keep namespaces and drop object names', () => {
  assert.equal(routeOf('get', '/api/v1/namespaces/kube-system/secrets/bootstrap-token-abc'), 'GET /api/v1/namespaces/kube-system/secrets/{name}');
  assert.equal(routeOf('POST', '/api/v1/namespaces/kube-system/secrets'), 'POST /api/v1/namespaces/kube-system/secrets');
  assert.equal(routeOf('PATCH', '/apis/update.edgeless.systems/v1alpha1/joiningnodes/worker-1'), 'PATCH /apis/update.edgeless.systems/v1alpha1/joiningnodes/{name}');
});

const METRICS = `# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.
# TYPE process_cpu_user_seconds_total counter
process_cpu_user_seconds_total 1.5
process_cpu_system_seconds_total 0.25
joinservice_event_loop_delay_seconds{quantile="0.5"} 0.0011
joinservice_event_loop_delay_seconds{quantile="0.99"} 0.012
joinservice_event_loop_delay_seconds{quantile="1"} 0.05
joinservice_handshakes_total{result="ok"} 10
joinservice_handshakes_total{result="rejected"} 2
joinservice_rpcs_total{method="IssueJoinTicket",code="OK"} 9 1700000000000
joinservice_rpcs_total{method="IssueJoinTicket",code="UNAVAILABLE"} 1
odd_labels{a="x\\"y",b="line\\nbreak", c = "c"} +Inf
`;

test('Prometheus text: samples, labels with escapes, sums and deltas', () => {
  const s = parsePrometheusText(METRICS);
  assert.equal(s.length, 10);
  assert.equal(metricSum(s, 'process_cpu_user_seconds_total'), 1.5);
  assert.equal(metricSum(s, 'joinservice_event_loop_delay_seconds', { quantile: '0.99' }), 0.012);
  assert.equal(metricSum(s, 'joinservice_handshakes_total'), 12);
  assert.equal(metricSum(s, 'missing'), undefined);
  assert.deepEqual(metricBy(s, 'joinservice_rpcs_total', ['method', 'code']), { 'IssueJoinTicket,OK': 9, 'IssueJoinTicket,UNAVAILABLE': 1 });
  const odd = s.find((x) => x.name === 'odd_labels')!;
  assert.deepEqual(odd.labels, { a: 'x"y', b: 'line\nbreak', c: 'c' });
  assert.equal(odd.value, Infinity);
  assert.deepEqual(deltaBy({ ok: 10, rejected: 2 }, { ok: 25, rejected: 2, new: 1 }), { ok: 15, new: 1 });
  assert.throws(() => parsePrometheusText('bad{x="unterminated} 1'));
  assert.throws(() => parsePrometheusText('name notanumber'));
});

test('load generator output: progress lines, result line, arrival flags', () => {
  const p = parseProgressLine('progress {"elapsedMs":1000,"joined":3,"failed":0,"inFlight":2,"waitingRetry":0,"total":5,"retries":0,"ratePerSec":3,"errors":{}}');
  assert.equal(p?.joined, 3);
  assert.equal(parseProgressLine('atls-peer: something else'), undefined);
  assert.equal(parseProgressLine('progress {broken'), undefined);
  const r = parseResult(['noise', '{"mode":"load","total":1,"joined":1,"nodes":[]}', '']);
  assert.equal(r?.joined, 1);
  assert.equal(parseResult(['{"mode":"single"}']), undefined);
  assert.deepEqual(arrivalArgs('burst'), ['--arrival', 'burst']);
  assert.deepEqual(arrivalArgs('window:60s'), ['--arrival', 'window', '--window', '60s']);
  assert.deepEqual(arrivalArgs('rate:50'), ['--arrival', 'rate', '--rate', '50']);
  assert.throws(() => arrivalArgs('window'));
  assert.throws(() => arrivalArgs('rate:0'));
});

test('server log lines: endpoint and metrics URL', () => {
  assert.equal(endpointFromLog({ msg: 'Starting join service on 127.0.0.1:41234', workers: 2 }), '127.0.0.1:41234');
  assert.equal(endpointFromLog({ msg: 'Starting join service on [::1]:9090' }), '[::1]:9090');
  assert.equal(endpointFromLog({ msg: 'other' }), undefined);
  assert.equal(metricsUrlFromLog({ msg: 'Metrics on http://127.0.0.1:9100/metrics' }), 'http://127.0.0.1:9100/metrics');
  assert.equal(metricsUrlFromLog({ msg: 'x', metrics: { metricsEndpoint: '127.0.0.1:9100' } }), 'http://127.0.0.1:9100/metrics');
  assert.equal(metricsUrlFromLog({ msg: 'x', metricsEndpoint: 'http://127.0.0.1:9100/metrics' }), 'http://127.0.0.1:9100/metrics');
  assert.equal(metricsUrlFromLog({ msg: 'x' }), undefined);
});
