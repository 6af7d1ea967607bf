#!/usr/bin/env node
// Prints the sample's CURVE Secrets as Kubernetes YAML, one fresh key pair per
// app (docs/deployment.md), for `kubectl apply -f -`:
//
//   node sample/deploy/curve-secrets.mjs | kubectl apply -f -
//
// Secret `<app>-curve` holds <APP>_CURVE_PUBLIC_KEY and <APP>_CURVE_SECRET_KEY;
// each Deployment reads its own pair and only the public keys of the others.
// Nothing is written to disk. Z85 keys hold no quote, so single quotes keep them as they are.
import { curveKeyPair } from 'zeromq';

const APPS = ['math', 'notifications', 'gateway'];

const docs = APPS.map(app => {
  const { publicKey, secretKey } = curveKeyPair();
  const prefix = `${app.toUpperCase()}_CURVE`;
  return [
    'apiVersion: v1',
    'kind: Secret',
    'metadata:',
    `  name: ${app}-curve`,
    '  labels:',
    `    app: ${app}`,
    'type: Opaque',
    'stringData:',
    `  ${prefix}_PUBLIC_KEY: '${publicKey}'`,
    `  ${prefix}_SECRET_KEY: '${secretKey}'`,
  ].join('\n');
});
process.stdout.write(`${docs.join('\n---\n')}\n`);
