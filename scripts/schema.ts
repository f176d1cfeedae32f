// Writes schema/oidc-cred.schema.json from the option table, so the schema and the flags cannot
// drift apart. Run: node --import tsx scripts/schema.ts
import { writeFileSync } from 'node:fs';
import { GLOBAL_OPTIONS } from '../src/config/options.js';

const props: Record<string, unknown> = {};
for (const o of GLOBAL_OPTIONS) {
  if (!o.inConfig) continue;
  let t: unknown;
  if (o.type === 'boolean') t = { type: 'boolean' };
  else if (o.type === 'number') t = { type: 'number', minimum: 0 };
  else if (o.type === 'array') {
    t =
      o.name === 'param'
        ? { oneOf: [{ type: 'array', items: { type: 'string', pattern: '^[^=]+=' } }, { type: 'object', additionalProperties: { type: 'string' } }] }
        : o.name === 'port'
          ? { oneOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, { type: 'array', items: { type: ['integer', 'string'] } }] }
          : { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
  } else t = o.choices ? { type: 'string', enum: [...o.choices] } : { type: 'string' };
  props[o.name] = { description: o.describe, ...(t as object) };
}
const matchEntry = {
  oneOf: [
    { type: 'string', description: 'a URL prefix, or a bare host (https and docker server names only; write http:// out)' },
    {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 1 },
        for: {
          description: 'the tools this entry serves (and setup wires); default: every tool',
          oneOf: [{ type: 'string', enum: ['git', 'docker', 'kube'] }, { type: 'array', minItems: 1, items: { type: 'string', enum: ['git', 'docker', 'kube'] } }],
        },
      },
    },
  ],
};
props.match = {
  description: 'URL prefixes (or bare hosts) this profile serves: git remotes, cluster servers, registries; the longest match wins (docs/docker.md)',
  oneOf: [matchEntry, { type: 'array', items: matchEntry }],
};
props['git-username'] = { type: 'string', description: 'username handed to git (default oauth2); the request’s own username wins' };
props['docker-username'] = { type: 'string', description: 'username handed to docker (default oauth2accesstoken)' };
props['client-secret-env'] = {
  type: 'string',
  pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
  description: 'environment variable holding this profile’s client secret (OIDC_CRED_CLIENT_SECRET applies only to profiles that name it here)',
};

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://unpkg.com/oidc-cred/schema/oidc-cred.schema.json',
  title: 'oidc-cred configuration',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    'default-profile': { type: 'string', description: 'profile used when no --profile is given and no match applies' },
    profiles: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, properties: props } },
  },
};
writeFileSync(new URL('../schema/oidc-cred.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
