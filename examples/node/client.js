// A Node.js client of pushgate: the calls a Node service makes, each checked.
//
//   npm ci
//   PUSHGATE_ADDR=127.0.0.1:50051 PUSHGATE_CA=ca.pem PUSHGATE_CERT=client.pem \
//   PUSHGATE_KEY=client.key PUSHGATE_TOKEN=secret node client.js
//
// The PushProxy stubs are built at start from proto/ by @grpc/proto-loader (nothing generated
// is committed). TLS with a client certificate and the GrpcAuthToken bearer token are used
// when their variables are set. The REMOVE check expects the APNs answer "Unregistered" for
// device tokens starting with "dead" (the test suite's mock APNs answers so).
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

let checks = 0;
function check(ok, what) {
  if (!ok) {
    console.error(`FAIL: ${what}`);
    process.exit(1);
  }
  checks++;
}

function load(file, includeDir) {
  const definition = protoLoader.loadSync(file, {
    includeDirs: [includeDir],
    keepCase: true,
    enums: String,
    longs: String,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition);
}

const pushgate = load('pushgate/v1/push.proto', path.join(__dirname, '../../proto')).pushgate.v1;
const healthProto = path.dirname(require.resolve('grpc-health-check/package.json'));
const health = load('health/v1/health.proto', path.join(healthProto, 'proto')).grpc.health.v1;

function credentials(withToken) {
  const ca = process.env.PUSHGATE_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  let creds = grpc.credentials.createSsl(fs.readFileSync(ca), read('PUSHGATE_KEY'), read('PUSHGATE_CERT'));
  const token = process.env.PUSHGATE_TOKEN;
  if (withToken && token) {
    const bearer = grpc.credentials.createFromMetadataGenerator((_, callback) => {
      const metadata = new grpc.Metadata();
      metadata.add('authorization', `Bearer ${token}`);
      callback(null, metadata);
    });
    creds = grpc.credentials.combineChannelCredentials(creds, bearer);
  }
  return creds;
}

function push(id, platform, device) {
  return {
    request_id: id,
    notification: {
      platform, server_id: 'node-server', device_id: device,
      message: 'hello from Node', type: 'message', version: 'v2',
    },
  };
}

// A unary call as a promise of [error, answer].
function call(client, method, request) {
  const deadline = new Date(Date.now() + 30000);
  return new Promise((resolve) => client[method](request, { deadline }, (err, answer) => resolve([err, answer])));
}

async function main() {
  const addr = process.env.PUSHGATE_ADDR;

  if (process.env.PUSHGATE_TOKEN) {
    const anonymous = new pushgate.PushProxy(addr, credentials(false));
    const [err] = await call(anonymous, 'SendPush', push('anon', 'apple_rn', 'a1b2c3d4'));
    check(err && err.code === grpc.status.UNAUTHENTICATED, `no token: UNAUTHENTICATED, got ${err}`);
    anonymous.close();
  }
  const client = new pushgate.PushProxy(addr, credentials(true));

  let [err, answer] = await call(client, 'SendPush', push('node-1', 'apple_rn', 'a1b2c3d4'));
  check(!err, `SendPush: ${err}`);
  check(answer.status === 'STATUS_OK', `SendPush is OK: ${JSON.stringify(answer)}`);
  check(answer.request_id === 'node-1', `request_id echoed: ${JSON.stringify(answer)}`);

  [err, answer] = await call(client, 'SendPush', push('node-2', 'apple_rn', 'dead0000'));
  check(!err, `SendPush: ${err}`);
  check(answer.status === 'STATUS_REMOVE', `an unregistered token is REMOVE: ${JSON.stringify(answer)}`);
  check(answer.reason === 'Unregistered', `with APNs' reason: ${JSON.stringify(answer)}`);

  const bad = push('node-3', 'apple_rn', 'a1b2c3d4');
  bad.notification.server_id = '';
  [err] = await call(client, 'SendPush', bad);
  check(err && err.code === grpc.status.INVALID_ARGUMENT, `no server id: INVALID_ARGUMENT, got ${err}`);
  check(err.details === 'Failed because of missing server Id', `MPNS's text: ${err.details}`);

  // StreamPush: 1,000 requests, each answered once, matched by request_id.
  const n = 1000;
  const seen = new Set();
  await new Promise((resolve) => {
    const stream = client.StreamPush();
    stream.on('data', (a) => {
      check(!seen.has(a.request_id), `request ${a.request_id} answered once`);
      check(a.status === 'STATUS_OK', `stream push OK: ${JSON.stringify(a)}`);
      seen.add(a.request_id);
    });
    stream.on('error', (e) => check(false, `StreamPush: ${e}`));
    stream.on('end', resolve);
    for (let i = 0; i < n; i++) {
      stream.write(push(String(i), 'apple_rn', (i + 1).toString(16).padStart(8, '0')));
    }
    stream.end();
  });
  check(seen.size === n, `${seen.size} of ${n} stream pushes answered`);

  // Send: one notification to many tokens, a result each in order; WatchRemovals sees the
  // token the provider said to forget.
  const removals = client.WatchRemovals({ targets: ['apple_rn'] });
  const removal = new Promise((resolve) => removals.once('data', resolve));
  removals.on('error', (e) => check(e.code === grpc.status.CANCELLED, `WatchRemovals: ${e}`));
  // The answer's headers come once pushgate has registered the watch: no removal is missed.
  await new Promise((resolve) => removals.once('metadata', resolve));
  [err, answer] = await call(client, 'Send', {
    target: 'apple_rn',
    tokens: ['a1b2c3d4', 'dead0001'],
    request_id: 'node-send',
    notification: { alert: { title: 'Node', body: 'hello from Send' }, data: { order: '1234' } },
  });
  check(!err, `Send: ${err}`);
  check(answer.request_id === 'node-send', `Send echoes request_id: ${JSON.stringify(answer)}`);
  check(answer.results.map((r) => r.token).join() === 'a1b2c3d4,dead0001', `results in order: ${JSON.stringify(answer)}`);
  check(answer.results[0].status === 'STATUS_OK', `Send OK: ${JSON.stringify(answer)}`);
  check(answer.results[1].status === 'STATUS_REMOVE', `Send REMOVE: ${JSON.stringify(answer)}`);
  const removed = await removal;
  check(removed.target === 'apple_rn' && removed.token === 'dead0001', `removal watched: ${JSON.stringify(removed)}`);
  removals.cancel();

  // Health: Check of the process, the API and a platform Type; Watch of a Type.
  const healthClient = new health.Health(addr, credentials(true));
  for (const service of ['', 'pushgate.v1.PushProxy', 'apple_rn']) {
    const [e, reply] = await call(healthClient, 'Check', { service });
    check(!e, `health Check ${JSON.stringify(service)}: ${e}`);
    check(reply.status === 'SERVING', `${JSON.stringify(service)} is SERVING: ${JSON.stringify(reply)}`);
  }
  const first = await new Promise((resolve) => {
    const watch = healthClient.Watch({ service: 'apple_rn' });
    watch.on('data', (reply) => { resolve(reply); watch.cancel(); });
    watch.on('error', () => {});
  });
  check(first.status === 'SERVING', `Watch says SERVING first: ${JSON.stringify(first)}`);

  client.close();
  healthClient.close();
  console.log(`node client: ${checks} checks passed`);
}

main().catch((e) => check(false, `${e.stack || e}`));
