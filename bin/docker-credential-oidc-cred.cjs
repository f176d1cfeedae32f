#!/usr/bin/env node
'use strict';
// docker runs `docker-credential-oidc-cred get|store|erase|list` for `credHelpers: {"host": "oidc-cred"}`.
require('./boot.cjs').boot(['docker', ...process.argv.slice(2)]);
