#!/usr/bin/env node
'use strict';
// git runs `git-credential-oidc-cred [options] get|store|erase` for `credential.helper = oidc-cred`.
require('./boot.cjs').boot(['git', ...process.argv.slice(2)]);
